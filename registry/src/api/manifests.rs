//! Manifests: `GET`/`HEAD`/`PUT`/`DELETE` `/v2/<name>/manifests/<reference>`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use pqreg_spec::Digest;
use serde_json::json;

use super::{header, repo, response};
use crate::error::{ApiError, ApiResult, Code};
use crate::manifest;
use crate::meta::{ManifestRecord, now};
use crate::names::{self, Reference};
use crate::state::{AppState, pump};
use crate::storage::collect_limited;

fn unknown(reference: &str) -> ApiError {
    ApiError::new(Code::ManifestUnknown).detail(json!({ "reference": reference }))
}

/// Whether an `Accept` header admits `media_type`. No header (or an empty one) admits
/// everything; so do `*/*`, `application/*` and `application/json`.
fn accepts(req: &HttpRequest, media_type: &str) -> bool {
    let mut any = false;
    for v in req.headers().get_all("Accept") {
        let Ok(v) = v.to_str() else { continue };
        for item in v.split(',') {
            let t = item.split(';').next().unwrap_or("").trim();
            if t.is_empty() {
                continue;
            }
            any = true;
            if t == media_type || t == "*/*" || t == "application/*" || t == "application/json" {
                return true;
            }
        }
    }
    !any
}

async fn serve(req: HttpRequest, st: web::Data<AppState>, head: bool) -> ApiResult<HttpResponse> {
    let name = repo(&req)?;
    let raw = req
        .match_info()
        .get("reference")
        .unwrap_or_default()
        .to_owned();
    let reference = names::parse_reference(&raw)?;
    let found = st
        .db(move |m| {
            let digest = match reference {
                Reference::Digest(d) => d.to_string(),
                Reference::Tag(t) => match m.resolve_tag(&name, &t)? {
                    Some(d) => d,
                    None => return Ok(None),
                },
            };
            Ok(m.get_manifest(&name, &digest)?
                .map(|(rec, bytes)| (digest, rec, bytes)))
        })
        .await?;
    let Some((digest, rec, bytes)) = found else {
        return Err(unknown(&raw));
    };
    if !accepts(&req, &rec.media_type) {
        return Err(unknown(&raw).msg(format!(
            "manifest is {}, which the Accept header does not admit",
            rec.media_type
        )));
    }
    let mut r = response(StatusCode::OK);
    r.insert_header(("Docker-Content-Digest", digest.clone()))
        .insert_header(("ETag", format!("\"{digest}\"")))
        .insert_header(("Vary", "Accept"))
        .content_type(rec.media_type.as_str());
    if head {
        let len = bytes.len() as u64;
        return Ok(r.body(actix_web::body::SizedStream::new(
            len,
            futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>(),
        )));
    }
    st.metrics.bytes_out.inc_by(bytes.len() as u64);
    Ok(r.body(bytes))
}

/// `GET /v2/<name>/manifests/<reference>`.
pub async fn get(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    serve(req, st, false).await
}

/// `HEAD /v2/<name>/manifests/<reference>`.
pub async fn head(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    serve(req, st, true).await
}

/// `PUT /v2/<name>/manifests/<reference>` (201).
pub async fn put(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    st.writable()?;
    let name = repo(&req)?;
    let raw = req
        .match_info()
        .get("reference")
        .unwrap_or_default()
        .to_owned();
    let reference = names::parse_reference(&raw)?;
    let limit = st.cfg.max_manifest_bytes;
    if header(&req, "Content-Length")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit as u64)
    {
        return Err(too_large(limit));
    }
    let (rx, feed) = pump(payload, st.metrics.clone());
    let ((), body) = tokio::join!(feed, collect_limited(rx, limit));
    let bytes = match body {
        Ok(Ok(b)) => b,
        Ok(Err(())) => return Err(too_large(limit)),
        Err(_) => return Err(ApiError::new(Code::ManifestInvalid).msg("request body ended early")),
    };
    let digest = Digest::sha256(&bytes);
    let tag = match reference {
        Reference::Digest(d) if d != digest => {
            return Err(ApiError::new(Code::DigestInvalid)
                .detail(json!({ "expected": d.to_string(), "actual": digest.to_string() })));
        }
        Reference::Digest(_) => None,
        Reference::Tag(t) => Some(t),
    };
    let parsed = manifest::parse(&bytes, header(&req, "Content-Type"))
        .map_err(|e| ApiError::new(Code::ManifestInvalid).detail(json!({ "reason": e })))?;
    super::log::check_bundle_referrer(&st, &name, &bytes, &parsed).await?;
    let size = bytes.len() as u64;
    let rec = ManifestRecord {
        media_type: parsed.media_type.clone(),
        size,
        blobs: parsed.blobs.iter().map(Digest::to_string).collect(),
        children: parsed.children.iter().map(Digest::to_string).collect(),
        subject: parsed.subject.map(|s| s.to_string()),
        created: now(),
    };
    let desc = parsed
        .subject
        .map(|_| parsed.referrer_descriptor(&digest, size));
    let (n, ds) = (name.clone(), digest.to_string());
    let moved_tag = tag.clone();
    let (stored, previous) = st
        .db(move |m| {
            let previous = match tag.as_deref() {
                Some(t) => m.resolve_tag(&n, t)?,
                None => None,
            };
            let stored = m.put_manifest(&n, &ds, &bytes, &rec, tag.as_deref(), desc.as_ref())?;
            Ok((stored, previous))
        })
        .await?;
    if let Err(missing) = stored {
        return Err(ApiError::new(Code::ManifestBlobUnknown).detail(json!({ "digest": missing.0 })));
    }
    // A tag that moved to a new manifest is logged (spec/transparency-log.md §3); the push
    // waits for that one batch. A log failure does not undo the push: it is reported.
    if let Some(t) = moved_tag
        && previous.as_deref() != Some(digest.to_string().as_str())
    {
        match pqreg_spec::logentry::LogEntry::tag_move(&name, &t, digest, now()) {
            Ok(e) => {
                if let Err(err) = st.log.append(&e).await {
                    tracing::error!(repo = %name, tag = %t, error = %err, "logging tag move failed");
                }
            }
            Err(err) => tracing::error!(repo = %name, tag = %t, error = %err, "tag move entry"),
        }
    }
    let mut r = response(StatusCode::CREATED);
    r.insert_header(("Location", format!("/v2/{name}/manifests/{digest}")))
        .insert_header(("Docker-Content-Digest", digest.to_string()));
    if let Some(s) = parsed.subject {
        r.insert_header(("OCI-Subject", s.to_string()));
    }
    Ok(r.finish())
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(Code::ManifestInvalid)
        .with_status(413)
        .msg(format!("manifest larger than {limit} bytes"))
        .detail(json!({ "limit": limit }))
}

/// `DELETE /v2/<name>/manifests/<reference>`: a tag removes the tag, a digest removes the
/// manifest and every tag on it (202).
pub async fn delete(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    st.writable()?;
    let name = repo(&req)?;
    let raw = req
        .match_info()
        .get("reference")
        .unwrap_or_default()
        .to_owned();
    let reference = names::parse_reference(&raw)?;
    let removed = st
        .db(move |m| match reference {
            Reference::Tag(t) => m.delete_tag(&name, &t),
            Reference::Digest(d) => m.delete_manifest(&name, &d.to_string()),
        })
        .await?;
    if !removed {
        return Err(unknown(&raw));
    }
    Ok(response(StatusCode::ACCEPTED).finish())
}
