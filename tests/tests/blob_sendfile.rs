//! Blob GETs sent with `sendfile(2)` into the connection's socket (registry
//! `api::sendfile`) must look on the wire exactly like any other response: the head, then
//! exactly `Content-Length` bytes, and the connection still usable for the next request
//! (keep-alive and pipelining), for whole blobs and ranges, when the client reads slowly
//! and when it goes away in the middle. The same checks run with `sendfile = false`, the
//! streaming path.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use pqreg_tests::Registry;
use pqreg_tests::oci::{assert_bytes, blob_path, push_blob, random_bytes};

/// Larger than loopback's socket buffers, so `sendfile` meets a full buffer and waits.
const BIG: usize = 24 << 20;

/// One keep-alive HTTP/1.1 connection.
struct Conn(BufReader<TcpStream>);

impl Conn {
    fn open(reg: &Registry) -> Conn {
        let s = TcpStream::connect(reg.addr()).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("set timeout");
        Conn(BufReader::new(s))
    }

    fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.0
            .get_mut()
            .write_all(req.as_bytes())
            .expect("send request");
    }

    /// Reads a response head: status and `Content-Length`.
    fn head(&mut self) -> (u16, u64) {
        let mut line = String::new();
        self.0.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let mut len = 0;
        loop {
            line.clear();
            self.0.read_line(&mut line).expect("header line");
            let l = line.trim_end();
            if l.is_empty() {
                return (status, len);
            }
            let (n, v) = l.split_once(':').expect("name: value");
            assert!(
                !n.eq_ignore_ascii_case("transfer-encoding"),
                "no framing expected: {l}"
            );
            if n.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().expect("Content-Length");
            }
        }
    }

    /// Reads a whole response with a body, in small reads (a slow client).
    fn response(&mut self) -> (u16, Vec<u8>) {
        let (status, len) = self.head();
        let mut body = vec![0u8; len as usize];
        for piece in body.chunks_mut(4096) {
            self.0.read_exact(piece).expect("body");
        }
        (status, body)
    }
}

fn check(env: &[(&str, &str)]) {
    let reg = Registry::start_with_env(env);
    let c = reg.client();
    let big = random_bytes(11, BIG);
    let d = push_blob(&c, "sf/a", &big);
    let small = b"a small blob".to_vec();
    let ds = push_blob(&c, "sf/a", &small);
    let path = blob_path("sf/a", &d);

    // One connection: whole blob, range, HEAD, suffix range, a small blob, the base route.
    let mut conn = Conn::open(&reg);
    conn.send("GET", &path, &[]);
    let (status, body) = conn.response();
    assert_eq!(status, 200);
    assert_bytes(&body, &big, "whole blob");
    conn.send("GET", &path, &[("Range", "bytes=1000-1999999")]);
    let (status, body) = conn.response();
    assert_eq!(status, 206);
    assert_bytes(&body, &big[1000..2_000_000], "range");
    conn.send("HEAD", &path, &[]);
    assert_eq!(conn.head(), (200, BIG as u64));
    conn.send("GET", &path, &[("Range", "bytes=-10")]);
    let (status, body) = conn.response();
    assert_eq!(status, 206);
    assert_bytes(&body, &big[BIG - 10..], "suffix range");
    conn.send("GET", &blob_path("sf/a", &ds), &[]);
    assert_eq!(conn.response(), (200, small.clone()));

    // Pipelined: three requests written at once, answered in order.
    conn.send("GET", &blob_path("sf/a", &ds), &[]);
    conn.send("GET", &path, &[("Range", "bytes=5-9")]);
    conn.send("GET", "/v2/", &[]);
    assert_eq!(conn.response(), (200, small.clone()));
    assert_eq!(conn.response(), (206, big[5..10].to_vec()));
    assert_eq!(conn.response().0, 200);

    // A client that goes away after 1 MiB of a big body, twice at once; then the server
    // still answers on new connections.
    let mut quitters: Vec<Conn> = (0..2).map(|_| Conn::open(&reg)).collect();
    for q in &mut quitters {
        q.send("GET", &path, &[]);
        assert_eq!(q.head(), (200, BIG as u64));
        let mut first = vec![0u8; 1 << 20];
        q.0.read_exact(&mut first).expect("first MiB");
        assert_bytes(&first, &big[..1 << 20], "first MiB");
    }
    drop(quitters);
    let mut conn = Conn::open(&reg);
    conn.send("GET", &path, &[]);
    let (status, body) = conn.response();
    assert_eq!(status, 200);
    assert_bytes(&body, &big, "whole blob after the quitters");
}

#[test]
fn blob_bodies_with_sendfile() {
    check(&[]);
}

#[test]
fn blob_bodies_streamed() {
    check(&[("PQREG_REGISTRY__SENDFILE", "false")]);
}
