//! Manifests: `GET`/`HEAD`/`PUT`/`DELETE` `/v2/<name>/manifests/<reference>`.

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use pqreg_spec::Digest;
use serde_json::json;

use super::{header, repo, response};
use crate::auth::tags::TagRefusal;
use crate::digest::BlobDigest;
use crate::error::{ApiError, ApiResult, Code};
use crate::manifest;
use crate::meta::PutRefused;
use crate::meta::{ManifestRecord, now};
use crate::names::{self, Reference};
use crate::state::{AppState, SmallBodyError, read_small_body};
use crate::tlog::QueuedEntry;
use pqreg_spec::logentry::{LogEntry, LogEntryError};

fn unknown(reference: &str) -> ApiError {
    ApiError::new(Code::ManifestUnknown).detail(json!({ "reference": reference }))
}

/// Queues a registry-authored log entry (spec/transparency-log.md §3.1), with keyed names
/// where §3.2 says so. Called while the
/// metadata store's change lock is held, so entries are sequenced in commit order. A
/// failure does not undo the change that committed: it is reported in the server's log.
fn queue(st: &AppState, entry: Result<LogEntry, LogEntryError>) -> Option<QueuedEntry> {
    let queued = entry
        .map_err(|e| e.to_string())
        .and_then(|e| crate::tlog::names::prepare(st, e).map_err(|err| err.to_string()))
        .and_then(|e| st.log.enqueue(&e).map_err(|err| err.to_string()));
    match queued {
        Ok(q) => Some(q),
        Err(error) => {
            tracing::error!(%error, "could not queue a tag or manifest change for the log");
            None
        }
    }
}

/// Waits until the queued entries are in the log (the request answers after that, so a
/// client that reads the log after its push or delete sees the entry).
async fn logged(name: &str, queued: Vec<QueuedEntry>) {
    for q in queued {
        if let Err(error) = q.wait().await {
            tracing::error!(repo = %name, %error, "logging a tag or manifest change failed");
        }
    }
}

/// The tag rules' verdict as an answer: 403 `DENIED` naming the rule.
fn tag_refused(repo: &str, tag: &str, r: TagRefusal) -> ApiError {
    ApiError::new(Code::Denied).msg(r.message).detail(json!({
        "repository": repo, "tag": tag, "rule": r.rule, "reason": r.reason,
    }))
}

/// Who may change tags, by the tag rules (spec/auth.md §3.1): the caller's user name from
/// the access decision the middleware left (none: anonymous, refused by any user list).
#[derive(Clone)]
struct TagGuard {
    auth: std::sync::Arc<crate::auth::Auth>,
    user: Option<String>,
}

impl TagGuard {
    fn of(req: &HttpRequest, st: &AppState) -> TagGuard {
        let user = req
            .extensions()
            .get::<crate::auth::Access>()
            .and_then(|a| a.principal.user_name().map(str::to_owned));
        TagGuard {
            auth: st.auth.clone(),
            user,
        }
    }

    /// Refuses a change of `repo:tag` the caller may not make, and (`deleting`) the
    /// deletion of an immutable tag.
    fn check(&self, repo: &str, tag: &str, deleting: bool) -> Result<(), TagRefusal> {
        let enforce = self.auth.mode() != crate::auth::Mode::None;
        self.auth
            .tags
            .may_change(self.user.as_deref(), enforce, repo, tag)?;
        match self.auth.tags.immutable(repo, tag) {
            Some(r) if deleting => Err(r),
            _ => Ok(()),
        }
    }
}

/// The SHA-256 digest the log names a stored manifest by: its key, or for one stored under
/// a SHA-512 digest, the SHA-256 of its bytes.
fn log_digest(m: &crate::meta::Meta, repo: &str, stored: &str) -> Result<Digest, LogEntryError> {
    if let Ok(d) = stored.parse::<Digest>() {
        return Ok(d);
    }
    match m.get_manifest(repo, stored) {
        Ok(Some((_, bytes))) => Ok(Digest::sha256(&bytes)),
        _ => Err(LogEntryError::BadDigest("manifest")),
    }
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
    // A reference that is neither a tag nor a digest names nothing: 404, as the OCI
    // conformance suite expects (`.INVALID_MANIFEST_NAME`); PUT still answers 400.
    let Ok(reference) = names::parse_reference(&raw) else {
        return Err(unknown(&raw));
    };
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
        return Err(too_large(limit).closing());
    }
    // Read like an upload body: bounded, with the idle timeout and minimum rate.
    let bytes = match read_small_body(&st, payload, limit).await {
        Ok(b) => b,
        Err(SmallBodyError::TooLarge) => return Err(too_large(limit).closing()),
        Err(SmallBodyError::Cut(why)) => {
            return Err(ApiError::new(Code::ManifestInvalid).msg(why).closing());
        }
    };
    // The log names the manifest by its SHA-256 (pqreg's formats are SHA-256 only); the
    // registry stores and serves it under the digest the client pushed it by: SHA-512 if
    // the reference is one, else SHA-256 (spec/api.md, Manifests).
    let digest = Digest::sha256(&bytes);
    let (served_as, tag) = match reference {
        Reference::Digest(d) => {
            let actual = match d {
                BlobDigest::Sha256(_) => BlobDigest::Sha256(digest),
                BlobDigest::Sha512(_) => {
                    let mut h = d.hasher();
                    h.update(&bytes);
                    h.finalize()
                }
            };
            if actual != d {
                return Err(ApiError::new(Code::DigestInvalid)
                    .detail(json!({ "expected": d.to_string(), "actual": actual.to_string() })));
            }
            (d, None)
        }
        Reference::Tag(t) => (BlobDigest::Sha256(digest), Some(t)),
    };
    let parsed = manifest::parse(&bytes, header(&req, "Content-Type"))
        .map_err(|e| ApiError::new(Code::ManifestInvalid).detail(json!({ "reason": e })))?;
    super::log::check_bundle_referrer(&st, &name, &bytes, &parsed).await?;
    let size = bytes.len() as u64;
    let rec = ManifestRecord {
        media_type: parsed.media_type.clone(),
        size,
        blobs: parsed.blobs.iter().map(BlobDigest::to_string).collect(),
        children: parsed.children.iter().map(BlobDigest::to_string).collect(),
        subject: parsed.subject.map(|s| s.to_string()),
        created: now(),
    };
    let desc = parsed
        .subject
        .map(|_| parsed.referrer_descriptor(&served_as, size));
    // Tag rules: who may move this tag, and whether it is set once (decided in the
    // write transaction, like the move itself).
    let immutable = match &tag {
        Some(t) => {
            TagGuard::of(&req, &st)
                .check(&name, t, false)
                .map_err(|r| tag_refused(&name, t, r))?;
            st.auth.tags.immutable(&name, t)
        }
        None => None,
    };
    let frozen = immutable.is_some();
    let (n, ds) = (name.clone(), served_as.to_string());
    let state = st.clone();
    // Whether the tag moved is decided in the manifest's write transaction, and its entry
    // is queued before any later change commits (spec/transparency-log.md §3.1).
    let stored = st
        .db(move |m| {
            let t = tag.as_deref();
            m.put_manifest(&n, &ds, &bytes, &rec, t, frozen, desc.as_ref(), |c| {
                let c = c.filter(|c| c.moved(&ds))?;
                queue(&state, LogEntry::tag_move(&n, &c.tag, digest, now()))
            })
        })
        .await?;
    let queued = match stored {
        Ok(q) => q,
        Err(PutRefused::Missing(missing)) => {
            return Err(
                ApiError::new(Code::ManifestBlobUnknown).detail(json!({ "digest": missing }))
            );
        }
        Err(PutRefused::TagFrozen(t)) => {
            let why = immutable.ok_or_else(|| ApiError::internal("frozen tag without a rule"))?;
            return Err(tag_refused(&name, &t, why));
        }
    };
    logged(&name, queued.into_iter().collect()).await;
    let mut r = response(StatusCode::CREATED);
    r.insert_header(("Location", format!("/v2/{name}/manifests/{served_as}")))
        .insert_header(("Docker-Content-Digest", served_as.to_string()));
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
/// manifest (its records under both algorithms) and every tag on it (202).
pub async fn delete(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    st.writable()?;
    let name = repo(&req)?;
    let raw = req
        .match_info()
        .get("reference")
        .unwrap_or_default()
        .to_owned();
    let reference = names::parse_reference(&raw)?;
    let guard = TagGuard::of(&req, &st);
    if let Reference::Tag(t) = &reference {
        guard
            .check(&name, t, true)
            .map_err(|r| tag_refused(&name, t, r))?;
    }
    let (n, state, g) = (name.clone(), st.clone(), guard.clone());
    // Deletions are logged like tag moves (spec/transparency-log.md §3.1): a removed tag
    // as `tag-delete`, a removed manifest as one `tag-delete` per tag it had, then
    // `manifest-delete`. A manifest with a tag the caller may not delete stays whole.
    let removed = st
        .db(move |m| match reference {
            Reference::Tag(t) => m
                .delete_tag(&n, &t, |was| {
                    let e =
                        log_digest(m, &n, was).and_then(|d| LogEntry::tag_delete(&n, &t, d, now()));
                    queue(&state, e).into_iter().collect::<Vec<_>>()
                })
                .map(Ok),
            Reference::Digest(stored) => {
                let ds = stored.to_string();
                let protected = |t: &str| g.check(&n, t, true).is_err();
                // The record and its twin under the other algorithm go together, so the
                // manifest is logged as deleted (by its SHA-256) only when no record of
                // its bytes is left in the repository (spec/api.md, Manifests).
                m.delete_manifest(&n, &ds, protected, |tags, bytes| {
                    let (d, time) = (Digest::sha256(bytes), now());
                    let mut entries: Vec<_> = tags
                        .iter()
                        .map(|t| LogEntry::tag_delete(&n, t, d, time))
                        .collect();
                    entries.push(LogEntry::manifest_delete(&n, d, time));
                    entries
                        .into_iter()
                        .filter_map(|e| queue(&state, e))
                        .collect::<Vec<_>>()
                })
            }
        })
        .await?;
    let queued = match removed {
        Ok(Some(q)) => q,
        Ok(None) => return Err(unknown(&raw)),
        Err(tag) => {
            let why = guard
                .check(&name, &tag, true)
                .err()
                .ok_or_else(|| ApiError::internal("protected tag without a rule"))?;
            return Err(tag_refused(&name, &tag, why));
        }
    };
    logged(&name, queued).await;
    Ok(response(StatusCode::ACCEPTED).finish())
}
