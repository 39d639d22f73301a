//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (monolithic with `?digest=`, a session,
//! or a cross-repository mount with `?mount=&from=`), then `PATCH`, `PUT`, `GET`, `DELETE`
//! `/v2/<name>/blobs/uploads/<id>`.
//!
//! Sessions are rows of the metadata store plus a file in the blob store, so they survive
//! a restart; the row's offset is updated only after the appended bytes are synced.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use pqreg_spec::Digest;
use serde_json::json;

use super::{header, param, query, repo, response};
use crate::error::{ApiError, ApiResult, Code};
use crate::meta::{UploadRecord, now};
use crate::names;
use crate::state::{AppState, pump};
use crate::storage::{Appended, Committed, UploadState, new_upload_id, upload_id_ok};

fn upload_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn blob_location(name: &str, d: &Digest) -> String {
    format!("/v2/{name}/blobs/{d}")
}

/// `Range` of a session holding `offset` bytes: `0-<offset-1>` (`0-0` when empty, as
/// distribution answers).
fn range_value(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}

fn session_builder(
    status: StatusCode,
    name: &str,
    id: &str,
    offset: u64,
) -> actix_web::HttpResponseBuilder {
    let mut r = response(status);
    r.insert_header(("Location", upload_location(name, id)))
        .insert_header(("Range", range_value(offset)))
        .insert_header(("Docker-Upload-UUID", id.to_owned()));
    r
}

fn session_response(status: StatusCode, name: &str, id: &str, offset: u64) -> HttpResponse {
    session_builder(status, name, id, offset).finish()
}

fn unknown_upload(id: &str) -> ApiError {
    ApiError::new(Code::BlobUploadUnknown).detail(json!({ "uuid": id }))
}

/// Parses `Content-Range` as `<start>-<end>` (also accepting `bytes <start>-<end>/<len>`).
fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim();
    let v = v.strip_prefix("bytes ").unwrap_or(v);
    let v = v.split('/').next()?;
    let (a, b) = v.split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (b >= a).then_some((a, b))
}

/// Checks a chunk's `Content-Range` against the session's offset: `Ok(None)` to proceed,
/// `Ok(Some(response))` for a 416.
fn check_chunk(
    req: &HttpRequest,
    name: &str,
    id: &str,
    offset: u64,
) -> ApiResult<Option<HttpResponse>> {
    let Some(cr) = header(req, "Content-Range") else {
        return Ok(None);
    };
    let out_of_order = |offset| {
        session_builder(StatusCode::RANGE_NOT_SATISFIABLE, name, id, offset).json(
            ApiError::new(Code::RangeInvalid)
                .detail(json!({ "offset": offset, "content_range": cr }))
                .body(),
        )
    };
    let Some((start, end)) = parse_content_range(cr) else {
        return Ok(Some(out_of_order(offset)));
    };
    if start != offset {
        return Ok(Some(out_of_order(offset)));
    }
    if let Some(cl) = header(req, "Content-Length").and_then(|v| v.parse::<u64>().ok())
        && cl != end - start + 1
    {
        return Err(ApiError::new(Code::SizeInvalid)
            .detail(json!({ "content_length": cl, "content_range": cr })));
    }
    Ok(None)
}

/// Streams the request body into upload `id` at `offset`.
async fn receive(
    st: &AppState,
    payload: web::Payload,
    id: &str,
    offset: u64,
    state: Option<UploadState>,
) -> ApiResult<Appended> {
    let (rx, feed) = pump(payload, st.metrics.clone());
    let ((), res) = tokio::join!(feed, st.store.append(id, offset, state, rx));
    Ok(res?)
}

/// Commits an upload as blob `d` and links it into `name`, holding GC off meanwhile.
async fn commit_and_link(
    st: &AppState,
    name: &str,
    id: &str,
    state: UploadState,
    d: &Digest,
) -> ApiResult<HttpResponse> {
    let _gc = st.gc_lock.read().await;
    match st.store.commit(id, state, d).await? {
        Committed::Mismatch { actual } => Err(ApiError::new(Code::DigestInvalid)
            .detail(json!({ "expected": d.to_string(), "actual": actual.to_string() }))),
        Committed::Stored { .. } => {
            let (n, ds) = (name.to_owned(), d.to_string());
            st.db(move |m| m.link(&n, &ds)).await?;
            Ok(response(StatusCode::CREATED)
                .insert_header(("Location", blob_location(name, d)))
                .insert_header(("Docker-Content-Digest", d.to_string()))
                .finish())
        }
    }
}

/// Mounts blob `d` from repository `from` into `name` if `from` links it.
async fn mount(st: &AppState, name: &str, from: &str, d: &Digest) -> ApiResult<bool> {
    let (f, ds) = (from.to_owned(), d.to_string());
    if !st.db(move |m| m.has_link(&f, &ds)).await? {
        return Ok(false);
    }
    let _gc = st.gc_lock.read().await;
    // Restart the blob's grace period; if it is already gone, fall back to an upload.
    if !st.store.touch(d).await? {
        return Ok(false);
    }
    let (n, ds) = (name.to_owned(), d.to_string());
    st.db(move |m| m.link(&n, &ds)).await?;
    Ok(true)
}

/// `POST /v2/<name>/blobs/uploads/`.
pub async fn start(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    st.writable()?;
    let name = repo(&req)?;
    let q = query(&req)?;
    if let Some(m) = param(&q, "mount") {
        let d = names::parse_digest(m)?;
        if let Some(from) = param(&q, "from")
            && names::check_name(from).is_ok()
            && mount(&st, &name, from, &d).await?
        {
            return Ok(response(StatusCode::CREATED)
                .insert_header(("Location", blob_location(&name, &d)))
                .insert_header(("Docker-Content-Digest", d.to_string()))
                .finish());
        }
        // Not mountable: open a session instead (202), as the spec allows.
    } else if let Some(dg) = param(&q, "digest") {
        let d = names::parse_digest(dg)?;
        let id = new_upload_id()?;
        let a = match receive(&st, payload, &id, 0, None).await {
            Ok(a) => a,
            Err(e) => {
                st.store.abort(&id).await?;
                return Err(e);
            }
        };
        if a.cut {
            st.store.abort(&id).await?;
            return Err(ApiError::new(Code::BlobUploadInvalid).msg("request body ended early"));
        }
        return commit_and_link(&st, &name, &id, a.state, &d).await;
    }
    let id = new_upload_id()?;
    let t = now();
    let rec = UploadRecord {
        repo: name.clone(),
        offset: 0,
        created: t,
        updated: t,
    };
    let idc = id.clone();
    st.db(move |m| m.put_upload(&idc, &rec)).await?;
    Ok(session_response(StatusCode::ACCEPTED, &name, &id, 0))
}

/// The session named in the path, if it exists and belongs to the repository.
async fn load(st: &AppState, req: &HttpRequest) -> ApiResult<(String, String, UploadRecord)> {
    let name = repo(req)?;
    let id = req.match_info().get("id").unwrap_or_default().to_owned();
    if !upload_id_ok(&id) {
        return Err(unknown_upload(&id));
    }
    let idc = id.clone();
    match st.db(move |m| m.get_upload(&idc)).await? {
        Some(rec) if rec.repo == name => Ok((name, id, rec)),
        _ => Err(unknown_upload(&id)),
    }
}

/// Records the new offset of a session after an append.
async fn record(st: &AppState, id: &str, mut rec: UploadRecord, offset: u64) -> ApiResult<()> {
    rec.offset = offset;
    rec.updated = now();
    let id = id.to_owned();
    st.db(move |m| m.put_upload(&id, &rec)).await
}

/// `GET /v2/<name>/blobs/uploads/<id>`: the session's progress (204).
pub async fn status(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let (name, id, rec) = load(&st, &req).await?;
    Ok(session_response(
        StatusCode::NO_CONTENT,
        &name,
        &id,
        rec.offset,
    ))
}

/// `PATCH /v2/<name>/blobs/uploads/<id>`: appends a chunk (202).
pub async fn patch(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    st.writable()?;
    let (name, id, _) = load(&st, &req).await?;
    let slot = st.session(&id);
    let mut cached = slot.lock_owned().await;
    // Re-read under the lock: a concurrent request may have moved the offset.
    let (name, id, rec) = {
        let _ = name;
        load(&st, &req).await?
    };
    if let Some(r) = check_chunk(&req, &name, &id, rec.offset)? {
        return Ok(r);
    }
    let a = receive(&st, payload, &id, rec.offset, cached.take()).await?;
    record(&st, &id, rec, a.state.offset).await?;
    let offset = a.state.offset;
    *cached = Some(a.state);
    if a.cut {
        return Err(ApiError::new(Code::BlobUploadInvalid)
            .msg("request body ended early; resume from the session's Range")
            .detail(json!({ "offset": offset })));
    }
    Ok(session_response(StatusCode::ACCEPTED, &name, &id, offset))
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: the last chunk (optional) and commit (201).
pub async fn finish(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    st.writable()?;
    let q = query(&req)?;
    let d = names::parse_digest(param(&q, "digest").unwrap_or_default())?;
    load(&st, &req).await?;
    let slot = st.session(req.match_info().get("id").unwrap_or_default());
    let mut cached = slot.lock_owned().await;
    let (name, id, rec) = load(&st, &req).await?;
    if let Some(r) = check_chunk(&req, &name, &id, rec.offset)? {
        return Ok(r);
    }
    let a = receive(&st, payload, &id, rec.offset, cached.take()).await?;
    if a.cut {
        let offset = a.state.offset;
        record(&st, &id, rec, offset).await?;
        *cached = Some(a.state);
        return Err(ApiError::new(Code::BlobUploadInvalid)
            .msg("request body ended early; resume from the session's Range")
            .detail(json!({ "offset": offset })));
    }
    let result = commit_and_link(&st, &name, &id, a.state, &d).await;
    // Committed or mismatched, the session's data is gone: so is the session.
    let idc = id.clone();
    st.db(move |m| m.delete_upload(&idc)).await?;
    st.forget_session(&id);
    result
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`: cancels the session (204).
pub async fn cancel(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    st.writable()?;
    let (_, id, _) = load(&st, &req).await?;
    let slot = st.session(&id);
    let _held = slot.lock_owned().await;
    st.store.abort(&id).await?;
    let idc = id.clone();
    st.db(move |m| m.delete_upload(&idc)).await?;
    st.forget_session(&id);
    Ok(response(StatusCode::NO_CONTENT).finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("0-99"), Some((0, 99)));
        assert_eq!(parse_content_range("bytes 100-199/*"), Some((100, 199)));
        assert_eq!(parse_content_range("5-4"), None);
        assert_eq!(parse_content_range("x-4"), None);
        assert_eq!(parse_content_range("7"), None);
        assert_eq!(range_value(0), "0-0");
        assert_eq!(range_value(10), "0-9");
    }
}
