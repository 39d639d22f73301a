//! A deliberately small HTTP/1.1 client over `std::net::TcpStream`.
//!
//! The conformance tests must see exactly what the server sent (status, every header, raw body,
//! no redirects followed, no retries), and the crash tests must stop writing a request body at
//! a chosen byte. A full client library hides both, so this one speaks the protocol by hand:
//! one connection per request, `Connection: close`, bodies framed by `Content-Length` or
//! `Transfer-Encoding: chunked`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a test waits for any single read or write before calling the server hung.
const IO_TIMEOUT: Duration = Duration::from_secs(120);

/// One HTTP response, fully read.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Every header in the order received; names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (empty for HEAD, 204 and 304).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON; panics with the body text when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `code` of every entry of an OCI error body (`{"errors":[{"code":…}]}`); empty when
    /// the body is not such a document.
    pub fn error_codes(&self) -> Vec<String> {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.body) else {
            return Vec::new();
        };
        v.get("errors")
            .and_then(|e| e.as_array())
            .map(|errs| {
                errs.iter()
                    .filter_map(|e| e.get("code").and_then(|c| c.as_str()).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The body as text, for assertion messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `Location` header turned into a request path (absolute URLs lose scheme and host).
    pub fn location(&self) -> Option<String> {
        self.header("Location").map(relative)
    }
}

/// A URL or path reduced to the path and query this client sends.
pub fn relative(location: &str) -> String {
    for scheme in ["http://", "https://"] {
        if let Some(rest) = location.strip_prefix(scheme) {
            return match rest.find('/') {
                Some(i) => rest[i..].to_owned(),
                None => "/".to_owned(),
            };
        }
    }
    location.to_owned()
}

/// Appends `key=value` to a path that may already carry a query.
pub fn with_query(path: &str, key: &str, value: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{key}={value}")
}

/// A client bound to one server address.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    addr: SocketAddr,
}

impl Client {
    /// A client for the server at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr }
    }

    /// The server address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends one request with a complete body and reads the response.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let mut stream = self.start(method, path, headers, Some(body.len() as u64))?;
        // A server may answer (e.g. 413) and close before reading the whole body: then the
        // write fails but the response is there to read.
        let written = stream.write_all(body).and_then(|()| stream.flush());
        match read_response(stream, method == "HEAD") {
            Ok(r) => Ok(r),
            Err(e) => Err(written.err().unwrap_or(e)),
        }
    }

    /// Opens a connection and writes the request line and headers; the caller writes the body
    /// (exactly `content_length` bytes, or fewer to simulate a client that dies) and then calls
    /// [`read_response`]. `content_length: None` sends no `Content-Length` header.
    pub fn start(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        content_length: Option<u64>,
    ) -> io::Result<TcpStream> {
        let stream = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let mut head = format!(
            "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: pqreg-tests\r\n",
            relative(path),
            self.addr
        );
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        if let Some(len) = content_length {
            let sends_body = !matches!(method, "GET" | "HEAD" | "DELETE") || len > 0;
            if sends_body {
                head.push_str(&format!("Content-Length: {len}\r\n"));
            }
        }
        head.push_str("\r\n");
        let mut s = stream;
        s.write_all(head.as_bytes())?;
        Ok(s)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Response {
        self.must("GET", path, &[], b"")
    }

    /// `GET path` with headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.must("GET", path, headers, b"")
    }

    /// `HEAD path`.
    pub fn head(&self, path: &str) -> Response {
        self.must("HEAD", path, &[], b"")
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Response {
        self.must("DELETE", path, &[], b"")
    }

    /// Any request; panics on a transport error (the server must answer every request).
    pub fn must(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: transport error: {e}"))
    }
}

/// Reads one response from a stream whose request has been fully written.
pub fn read_response(stream: TcpStream, head_request: bool) -> io::Result<Response> {
    let (status, headers, mut r) = read_head(stream)?;
    let no_body = head_request || status == 204 || status == 304 || (100..200).contains(&status);
    let mut body = Vec::new();
    if !no_body {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let chunked = header("Transfer-Encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        if chunked {
            read_chunked(&mut r, &mut body)?;
        } else if let Some(len) = header("Content-Length") {
            let len: u64 = len
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?;
            body.reserve(len as usize);
            (&mut r).take(len).read_to_end(&mut body)?;
            if body.len() as u64 != len {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short body"));
            }
        } else {
            r.read_to_end(&mut body)?;
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// The status line and headers of a response; the reader is left at the start of the body
/// (for tests that stream a large body instead of holding it in memory).
pub type Head = (u16, Vec<(String, String)>, BufReader<TcpStream>);

/// Reads the status line and headers of a response.
pub fn read_head(stream: TcpStream) -> io::Result<Head> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "no status line",
        ));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, format!("status line {line:?}"))
        })?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "eof in headers",
            ));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    Ok((status, headers, r))
}

fn read_chunked(r: &mut impl BufRead, body: &mut Vec<u8>) -> io::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let size_hex = line.trim().split(';').next().unwrap_or("");
        let size = u64::from_str_radix(size_hex, 16).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, format!("chunk size {line:?}"))
        })?;
        if size == 0 {
            // Trailers, then the blank line.
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(());
                }
            }
        }
        let before = body.len();
        r.take(size).read_to_end(body)?;
        if (body.len() - before) as u64 != size {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short chunk"));
        }
        line.clear();
        r.read_line(&mut line)?;
    }
}
