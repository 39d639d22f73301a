//! Blobs: `GET`/`HEAD` (with `Range`) and `DELETE` `/v2/<name>/blobs/<digest>`.

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::json;

use super::{header, repo, response};
use crate::error::{ApiError, ApiResult, Code};
use crate::names;
use crate::state::AppState;

/// A `Range` request resolved against a blob's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeReq {
    /// No (usable) range: the whole blob.
    Full,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// Not satisfiable (416).
    Unsatisfiable,
}

/// Resolves a `Range: bytes=...` header (one range; a multi-range or malformed header is
/// ignored, as RFC 9110 permits). A well-formed range whose end is before its start is
/// unsatisfiable (416, RFC 9110 15.5.17 "rejected due to invalid ranges"), not ignored:
/// the OCI conformance suite checks `bytes=500-0` gets 416.
pub fn resolve_range(h: Option<&str>, size: u64) -> RangeReq {
    let Some(spec) = h.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeReq::Full;
    };
    if spec.contains(',') {
        return RangeReq::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeReq::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // Suffix: the last b bytes.
        let Ok(n) = b.parse::<u64>() else {
            return RangeReq::Full;
        };
        if n == 0 || size == 0 {
            return RangeReq::Unsatisfiable;
        }
        return RangeReq::Part(size.saturating_sub(n), size - 1);
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeReq::Full;
    };
    let end = if b.is_empty() {
        size.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.min(size.saturating_sub(1)),
            Ok(_) => return RangeReq::Unsatisfiable,
            Err(_) => return RangeReq::Full,
        }
    };
    if start >= size {
        RangeReq::Unsatisfiable
    } else {
        RangeReq::Part(start, end)
    }
}

async fn serve(req: HttpRequest, st: web::Data<AppState>, head: bool) -> ApiResult<HttpResponse> {
    let name = repo(&req)?;
    let digest = names::parse_blob_digest(req.match_info().get("digest").unwrap_or_default())?;
    let ds = digest.to_string();
    let unknown =
        || ApiError::new(Code::BlobUnknown).detail(json!({ "digest": digest.to_string() }));
    if !st.db(move |m| m.has_link(&name, &ds)).await? {
        return Err(unknown());
    }
    let Some(stat) = st.store.stat(&digest).await? else {
        return Err(unknown());
    };
    let size = stat.size;
    let range = resolve_range(header(&req, "Range"), size);
    let mut r = match range {
        RangeReq::Full => response(StatusCode::OK),
        RangeReq::Part(s, e) => {
            let mut r = response(StatusCode::PARTIAL_CONTENT);
            r.insert_header(("Content-Range", format!("bytes {s}-{e}/{size}")));
            r
        }
        RangeReq::Unsatisfiable => {
            return Ok(response(StatusCode::RANGE_NOT_SATISFIABLE)
                .insert_header(("Content-Range", format!("bytes */{size}")))
                .json(ApiError::new(Code::RangeInvalid).body()));
        }
    };
    r.insert_header(("Docker-Content-Digest", digest.to_string()))
        .insert_header(("Accept-Ranges", "bytes"))
        .insert_header(("ETag", format!("\"{digest}\"")))
        .insert_header(("Cache-Control", "max-age=31536000"))
        .content_type("application/octet-stream");
    let (want, range) = match range {
        RangeReq::Part(s, e) => (e - s + 1, Some((s, e))),
        _ => (size, None),
    };
    if head {
        return Ok(r.body(SizedStream::new(
            want,
            futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>(),
        )));
    }
    let (start, _) = range.unwrap_or((0, 0));
    #[cfg(target_os = "linux")]
    if st.cfg.sendfile
        && want > 0
        && let Some(sock) = req.conn_data::<super::sendfile::ConnSocket>()
        && let Some(file) = st.store.local_file(&digest).await?
    {
        let out = st.metrics.bytes_out.clone();
        let body = super::sendfile::body(sock, file, start, want, move |n| out.inc_by(n));
        // Not `streaming()`: with a Content-Length it would count the (absent) bytes.
        return Ok(r.no_chunking(want).body(BodyStream::new(body)));
    }
    let Some((_, stream)) = st.store.get(&digest, range).await? else {
        return Err(unknown());
    };
    let out = st.metrics.bytes_out.clone();
    let stream = stream.inspect(move |piece| {
        if let Ok(b) = piece {
            out.inc_by(b.len() as u64);
        }
    });
    Ok(r.body(SizedStream::new(want, stream)))
}

/// `GET /v2/<name>/blobs/<digest>`.
pub async fn get(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    serve(req, st, false).await
}

/// `HEAD /v2/<name>/blobs/<digest>`.
pub async fn head(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    serve(req, st, true).await
}

/// `DELETE /v2/<name>/blobs/<digest>`: unlinks the blob from the repository; garbage
/// collection removes the bytes once no repository links them.
pub async fn delete(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    st.writable()?;
    let name = repo(&req)?;
    let digest = names::parse_blob_digest(req.match_info().get("digest").unwrap_or_default())?;
    let ds = digest.to_string();
    if !st.db(move |m| m.unlink(&name, &ds)).await? {
        return Err(
            ApiError::new(Code::BlobUnknown).detail(json!({ "digest": digest.to_string() }))
        );
    }
    Ok(response(StatusCode::ACCEPTED).finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeReq::*;
        assert_eq!(resolve_range(None, 10), Full);
        assert_eq!(resolve_range(Some("bytes=0-3"), 10), Part(0, 3));
        assert_eq!(resolve_range(Some("bytes=5-"), 10), Part(5, 9));
        assert_eq!(resolve_range(Some("bytes=5-100"), 10), Part(5, 9));
        assert_eq!(resolve_range(Some("bytes=-3"), 10), Part(7, 9));
        assert_eq!(resolve_range(Some("bytes=-30"), 10), Part(0, 9));
        assert_eq!(resolve_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(resolve_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(resolve_range(Some("bytes=3-1"), 10), Unsatisfiable);
        assert_eq!(resolve_range(Some("bytes=3-x"), 10), Full);
        assert_eq!(resolve_range(Some("bytes=0-1,3-4"), 10), Full);
        assert_eq!(resolve_range(Some("items=0-1"), 10), Full);
        assert_eq!(resolve_range(Some("bytes=x-1"), 10), Full);
    }
}
