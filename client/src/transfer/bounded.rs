//! GETs whose body is read with a byte limit: manifests, referrers lists, tags lists and
//! catalog pages.
//!
//! oci-client reads these bodies whole before returning them, so a hostile registry (or
//! anything on the path) answering with an endless body would take all of a puller's
//! memory before pqreg could compare the length with its limit (DESIGN.md threat model:
//! a registry may refuse service, never exhaust a node). Here the request is our own,
//! with the token flow of [`super::token`] for the `Authorization` header, and the body
//! is read chunk by chunk: the read stops, and the request fails, as soon as one byte
//! more than the limit has arrived (or a `Content-Length` announces more).

use oci_client::secrets::RegistryAuth;
use oci_client::{Reference as OciReference, RegistryOperation};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, HeaderValue, LINK};

use super::Inner;
use super::error::{Failure, TransferError, classify_status};
use super::token::Grant;

/// The most bytes of an error answer read (its message only goes into an error); the
/// rest is not read.
pub(crate) const MAX_ERROR_BODY: usize = 8 << 10;

/// A bounded answer: status 2xx and the body.
pub(crate) struct Body {
    pub(crate) bytes: Vec<u8>,
    /// The `Docker-Content-Digest` header, when the registry sent one.
    pub(crate) digest_header: Option<String>,
    /// The `Link` header (the next page of a list), when the registry sent one.
    pub(crate) link: Option<String>,
}

/// What a bounded GET got.
pub(crate) enum Got {
    /// A 2xx answer whose body is within the limit.
    Ok(Body),
    /// A 404 (some callers fall back to something else).
    NotFound(String),
}

impl Inner {
    /// The `Authorization` header for pulls of `image`'s repository: the token flow's
    /// ([`super::token`]), or the stored basic credentials when the registry asks for
    /// none at `/v2/` (sent only to this registry); `fresh` fetches a new token.
    pub(crate) async fn pull_authorization(
        &self,
        image: &OciReference,
        op: &str,
        fresh: bool,
    ) -> Result<Option<HeaderValue>, Failure> {
        self.authorization(image, RegistryOperation::Pull, op, fresh)
            .await
    }

    /// [`Inner::pull_authorization`] for `action` (pull, or push).
    pub(crate) async fn authorization(
        &self,
        image: &OciReference,
        action: RegistryOperation,
        op: &str,
        fresh: bool,
    ) -> Result<Option<HeaderValue>, Failure> {
        let grant = self.authorize(image, action, fresh, op).await?;
        Ok(match (grant, &self.auth) {
            (Grant::None, RegistryAuth::Basic(u, p)) => Grant::Basic(u.clone(), p.clone()),
            (g, _) => g,
        }
        .header())
    }

    /// One attempt at `GET url` for `image` (pull scope) with these `Accept` types,
    /// reading at most `limit` bytes of the body. A 401 gets one more try with a fresh
    /// token; other errors are classified for the retry loop.
    pub(crate) async fn bounded_get(
        &self,
        image: &OciReference,
        url: &str,
        accept: &[&str],
        limit: usize,
        op: &str,
    ) -> Result<Got, Failure> {
        let mut fresh = false;
        loop {
            let mut req = self.http.get(url).header(ACCEPT, accept.join(", "));
            if let Some(h) = self.pull_authorization(image, op, fresh).await? {
                req = req.header(AUTHORIZATION, h);
            }
            let resp = req.send().await.map_err(|e| transport(op, &self.host, e))?;
            let status = resp.status().as_u16();
            if status == 401 && !fresh {
                fresh = true;
                continue;
            }
            if (200..300).contains(&status) {
                return Ok(Got::Ok(read_limited(resp, limit, op, &self.host).await?));
            }
            let body = error_message(resp, MAX_ERROR_BODY).await;
            if status == 404 {
                return Ok(Got::NotFound(body));
            }
            return Err(classify_status(op, &self.host, status, body));
        }
    }
}

/// Reads `resp`'s body, failing as soon as it is longer than `limit`.
async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
    op: &str,
    host: &str,
) -> Result<Body, Failure> {
    let too_long = |n: String| {
        Failure::Fatal(TransferError::BadResponse {
            op: op.to_owned(),
            message: format!("the answer is over the limit of {limit} bytes ({n})"),
        })
    };
    let announced = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = announced
        && n > limit as u64
    {
        return Err(too_long(format!("Content-Length {n}")));
    }
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let digest_header = header("docker-content-digest");
    let link = header(LINK.as_str());
    let mut bytes = Vec::with_capacity(announced.map_or(0, |n| n as usize).min(limit));
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport(op, host, e))? {
        if bytes.len() + chunk.len() > limit {
            return Err(too_long(format!(
                "{} bytes and more",
                bytes.len() + chunk.len()
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Body {
        bytes,
        digest_header,
        link,
    })
}

/// The first `limit` bytes of an error answer's body, as text for an error message; the
/// rest is never read (dropping the response closes the connection), and a body that
/// breaks off gives what arrived.
pub(crate) async fn error_message(mut resp: reqwest::Response, limit: usize) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - bytes.len();
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A reqwest error without an HTTP status: connection, timeout or body errors are worth
/// a retry; a request that cannot even be built is final.
pub(crate) fn transport(op: &str, host: &str, e: reqwest::Error) -> Failure {
    if e.is_builder() {
        return Failure::Fatal(TransferError::BadReference(host.to_owned(), e.to_string()));
    }
    let mut s = format!("{op}: {e}");
    let mut cur = std::error::Error::source(&e);
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    Failure::Transient(s)
}
