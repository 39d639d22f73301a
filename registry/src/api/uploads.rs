//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (monolithic with `?digest=`, a session,
//! or a cross-repository mount with `?mount=&from=`), then `PATCH`, `PUT`, `GET`, `DELETE`
//! `/v2/<name>/blobs/uploads/<id>`.
//!
//! Sessions are rows of the metadata store plus a file in the blob store, so they survive
//! a restart; the row's offset is updated only after the appended bytes are synced. A
//! session belongs to the client that opened it ([`client_of`]); to anyone else it does not
//! exist (404). The per-client caps (`crate::limits`) are counted here, from what each
//! handler did: a session counts from the moment it is opened until it is committed,
//! refused, cancelled or purged; a body counts while it streams, monolithic uploads
//! included.
//!
//! Every upload, monolithic ones included, holds a slot in [`AppState::sessions`] from
//! before its file exists until after its file is committed or removed, so GC never sweeps
//! the file of an upload in flight.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{header, param, query, repo, response};
use crate::auth::{Access, Principal};
use crate::digest::BlobDigest;
use crate::error::{ApiError, ApiResult, Code};
use crate::limits::StreamPermit;
use crate::meta::{UploadRecord, now};
use crate::names;
use crate::state::{AppState, BodyEnd, pump_limited};
use crate::storage::{Appended, Committed, UploadState, new_upload_id, upload_id_ok};

/// Who a request comes from, as the caps and session owners count it: the authenticated
/// user (or token subject), otherwise the peer's address without its port (one client,
/// many connections). The prefixes keep a user named like an address apart from it.
pub fn client_of(req: &HttpRequest) -> String {
    use actix_web::HttpMessage as _;
    let named = req
        .extensions()
        .get::<Access>()
        .and_then(|a| match &a.principal {
            Principal::User(u) => Some(format!("user:{u}")),
            p @ Principal::Token(g) if g.subject.is_some() => Some(p.audit_name()),
            _ => None,
        });
    named.unwrap_or_else(|| {
        let ci = req.connection_info();
        let peer = ci.peer_addr().unwrap_or("unknown");
        let host = peer.rsplit_once(':').map_or(peer, |(host, _)| host);
        format!("addr:{host}")
    })
}

/// Counts a body stream of `client` against its cap (429 above it).
fn stream_permit(st: &AppState, client: &str) -> ApiResult<StreamPermit> {
    st.streams.acquire(client).map_err(|n| {
        ApiError::new(Code::TooManyRequests).msg(format!(
            "{n} uploads of this client are streaming a body already: wait for one to finish"
        ))
    })
}

/// Marks upload `id` in flight for as long as it lives (see the module doc), however the
/// handler ends.
struct InFlight<'a> {
    st: &'a AppState,
    id: String,
}

impl<'a> InFlight<'a> {
    fn new(st: &'a AppState, id: &str) -> Self {
        // Creates the slot; GC's orphan sweep skips ids that have one.
        drop(st.session(id));
        InFlight {
            st,
            id: id.to_owned(),
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.st.forget_session(&self.id);
    }
}

fn upload_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn blob_location(name: &str, d: &BlobDigest) -> String {
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

/// Streams the request body into upload `id` (monolithic pushes, whose id nobody else
/// knows).
async fn receive(st: &AppState, payload: web::Payload, id: &str) -> (ApiResult<Appended>, BodyEnd) {
    let (rx, feed) = pump_limited(payload, st.metrics.clone(), Some(st.body_limits()));
    let (end, res) = tokio::join!(feed, st.store.append(id, 0, None, rx));
    (res.map_err(ApiError::from), end)
}

/// The error for a body that did not arrive whole.
fn cut_error(end: &BodyEnd) -> ApiError {
    match end {
        BodyEnd::Stalled(why) => ApiError::new(Code::BlobUploadInvalid).msg(why.clone()),
        _ => ApiError::new(Code::BlobUploadInvalid).msg("request body ended early"),
    }
}

/// What a session append ended with.
struct SessionAppend {
    offset: u64,
    cut: bool,
}

/// Streams the request body into session `id`, records its new offset and, with
/// `commit_to`, commits it; all on a task of its own that holds the session's lock
/// throughout: if the client goes away and this handler is dropped, the append still
/// finishes before another request may touch the session's file. Only the body pump stays
/// here (it is bound to this thread).
async fn receive_session(
    st: &web::Data<AppState>,
    payload: web::Payload,
    id: &str,
    rec: UploadRecord,
    commit_to: Option<BlobDigest>,
) -> (ApiResult<(SessionAppend, Option<ApiResult<()>>)>, BodyEnd) {
    let (rx, feed) = pump_limited(payload, st.metrics.clone(), Some(st.body_limits()));
    let slot = st.session(id);
    let (st2, id2) = (st.clone(), id.to_owned());
    let task = tokio::spawn(async move {
        let mut cached = slot.lock_owned().await;
        // Re-read under the lock: a concurrent request may have moved the offset.
        let id2c = id2.clone();
        let rec = match st2.db(move |m| m.get_upload(&id2c)).await? {
            Some(now_rec) if now_rec == rec => now_rec,
            _ => {
                return Err(ApiError::new(Code::RangeInvalid)
                    .msg("the session changed meanwhile; query its Range and resume"));
            }
        };
        let a = match st2.store.append(&id2, rec.offset, cached.take(), rx).await {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                // Unusable for good: end it, so it stops counting against its owner.
                let idc = id2.clone();
                st2.db(move |m| m.delete_upload(&idc)).await?;
                st2.upload_sessions.closed(&id2);
                return Err(ApiError::new(Code::BlobUploadInvalid)
                    .msg("the session's data is gone; start a new upload"));
            }
            Err(e) => return Err(e.into()),
        };
        let offset = a.state.offset;
        let d = match commit_to {
            Some(d) if !a.cut => d,
            _ => {
                record(&st2, &id2, rec, offset).await?;
                *cached = Some(a.state);
                let cut = a.cut;
                return Ok((SessionAppend { offset, cut }, None));
            }
        };
        let result = commit_and_link(&st2, &rec.repo, &id2, a.state, &d).await;
        // Committed or mismatched, the session's data is gone: so is the session.
        let idc = id2.clone();
        st2.db(move |m| m.delete_upload(&idc)).await?;
        st2.upload_sessions.closed(&id2);
        st2.forget_session(&id2);
        Ok((SessionAppend { offset, cut: false }, Some(result)))
    });
    let (end, joined) = tokio::join!(feed, task);
    (joined.map_err(ApiError::internal).and_then(|r| r), end)
}

/// Commits an upload as blob `d` and links it into `name`, holding GC off meanwhile.
async fn commit_and_link(
    st: &AppState,
    name: &str,
    id: &str,
    state: UploadState,
    d: &BlobDigest,
) -> ApiResult<()> {
    let _gc = st.gc_lock.read().await;
    match st.store.commit(id, state, d).await? {
        Committed::Mismatch { actual } => Err(ApiError::new(Code::DigestInvalid)
            .detail(json!({ "expected": d.to_string(), "actual": actual.to_string() }))),
        Committed::Stored { .. } => {
            let (n, ds) = (name.to_owned(), d.to_string());
            st.db(move |m| m.link(&n, &ds)).await?;
            Ok(())
        }
    }
}

fn created(name: &str, d: &BlobDigest) -> HttpResponse {
    response(StatusCode::CREATED)
        .insert_header(("Location", blob_location(name, d)))
        .insert_header(("Docker-Content-Digest", d.to_string()))
        .finish()
}

/// Mounts blob `d` from repository `from` into `name` if `from` links it.
async fn mount(st: &AppState, name: &str, from: &str, d: &BlobDigest) -> ApiResult<bool> {
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
    let client = client_of(&req);
    if let Some(m) = param(&q, "mount") {
        let d = names::parse_blob_digest(m)?;
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
        let d = names::parse_blob_digest(dg)?;
        let _permit = stream_permit(&st, &client)?;
        let id = new_upload_id()?;
        let _in_flight = InFlight::new(&st, &id);
        let (a, end) = receive(&st, payload, &id).await;
        let a = match a {
            Ok(a) if !a.cut => a,
            other => {
                st.store.abort(&id).await?;
                other?;
                return Err(cut_error(&end));
            }
        };
        commit_and_link(&st, &name, &id, a.state, &d).await?;
        return Ok(created(&name, &d));
    }
    // A session is opened here, whatever the query asked for (a mount that could not be
    // served lands here too), so here is where it counts.
    if let Err(n) = st.upload_sessions.admit(&client) {
        return Err(ApiError::new(Code::TooManyRequests).msg(format!(
            "{n} upload sessions are open for this client: finish or cancel some (DELETE their Location) before opening more"
        )));
    }
    let id = new_upload_id()?;
    let t = now();
    let rec = UploadRecord {
        repo: name.clone(),
        offset: 0,
        created: t,
        updated: t,
        owner: client.clone(),
    };
    let idc = id.clone();
    st.db(move |m| m.put_upload(&idc, &rec)).await?;
    st.upload_sessions.opened(&client, &id);
    Ok(session_response(StatusCode::ACCEPTED, &name, &id, 0))
}

/// The session named in the path, if it exists, belongs to the repository and was opened
/// by this client (to anyone else it does not exist).
async fn load(st: &AppState, req: &HttpRequest) -> ApiResult<(String, String, UploadRecord)> {
    let name = repo(req)?;
    let id = req.match_info().get("id").unwrap_or_default().to_owned();
    if !upload_id_ok(&id) {
        return Err(unknown_upload(&id));
    }
    let client = client_of(req);
    let idc = id.clone();
    match st.db(move |m| m.get_upload(&idc)).await? {
        Some(rec) if rec.repo == name && rec.owner == client => {
            st.upload_sessions.touched(&id);
            Ok((name, id, rec))
        }
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
    let (name, id, rec) = load(&st, &req).await?;
    if let Some(r) = check_chunk(&req, &name, &id, rec.offset)? {
        return Ok(r);
    }
    let _permit = stream_permit(&st, &client_of(&req))?;
    let (r, end) = receive_session(&st, payload, &id, rec, None).await;
    let (a, _) = r?;
    if a.cut {
        return Err(cut(a.offset, &end));
    }
    Ok(session_response(StatusCode::ACCEPTED, &name, &id, a.offset))
}

fn cut(offset: u64, end: &BodyEnd) -> ApiError {
    let why = match end {
        BodyEnd::Stalled(why) => why.as_str(),
        _ => "request body ended early",
    };
    ApiError::new(Code::BlobUploadInvalid)
        .msg(format!("{why}; resume from the session's Range"))
        .detail(json!({ "offset": offset }))
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: the last chunk (optional) and commit (201).
pub async fn finish(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    st.writable()?;
    let q = query(&req)?;
    let d = names::parse_blob_digest(param(&q, "digest").unwrap_or_default())?;
    let (name, id, rec) = load(&st, &req).await?;
    if let Some(r) = check_chunk(&req, &name, &id, rec.offset)? {
        return Ok(r);
    }
    let _permit = stream_permit(&st, &client_of(&req))?;
    let (r, end) = receive_session(&st, payload, &id, rec, Some(d)).await;
    let (a, committed) = r?;
    if a.cut {
        return Err(cut(a.offset, &end));
    }
    match committed {
        Some(Ok(())) => Ok(created(&name, &d)),
        Some(Err(e)) => Err(e),
        None => Err(ApiError::internal("upload finished without a commit")),
    }
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
    st.upload_sessions.closed(&id);
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
