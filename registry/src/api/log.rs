//! The transparency log's HTTP API (spec/transparency-log.md §5, §7, §8): checkpoint,
//! tiles, proofs, search, keys, signed submissions and witness cosignatures; and the
//! manifest-push check that signature bundles are logged (spec/signing.md §5).

use actix_web::HttpMessage;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use pqreg_spec::Digest;
use pqreg_spec::bundle::{BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES};
use pqreg_spec::merkle::api::{B64Hash, ConsistencyProofResponse, InclusionProofResponse};
use pqreg_spec::tile::TilePath;
use serde_json::json;

use super::{param, query, response};
use crate::error::{ApiError, ApiResult, Code};
use crate::meta::now;
use crate::state::{AppState, SmallBodyError, read_small_body};
use crate::tlog::search::{DEFAULT_LIMIT, Filter, MAX_LIMIT};
use crate::tlog::submission::{
    BundleCheckError, MAX_SUBMISSION_BYTES, Submission, SubmissionError,
};
use crate::tlog::witness::CosignError;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Runs a blocking log operation off the async threads.
async fn blocking<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    st: &web::Data<AppState>,
    f: impl FnOnce(&crate::tlog::Log) -> Result<T, E> + Send + 'static,
) -> ApiResult<T> {
    let s = st.clone();
    tokio::task::spawn_blocking(move || f(&s.log))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// `GET /log/checkpoint`: the newest signed checkpoint, with the witness cosignatures
/// received for it.
pub async fn checkpoint(st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let note = blocking(&st, |l| l.checkpoint_note()).await?;
    Ok(response(StatusCode::OK)
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .body(note))
}

/// `GET /log/v1/keys`: the log's verifier keys, one per line (Ed25519, ML-DSA-44).
pub async fn keys(st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    Ok(response(StatusCode::OK)
        .content_type("text/plain; charset=utf-8")
        .body(st.log.keys().verifier_keys()))
}

/// `GET /log/tile/...`: a tile or entry bundle. A partial one is served at the current
/// size's width, and at any smaller width as the first entries of the current (wider or
/// full) one: they are the same hashes and entries (spec/transparency-log.md §5), and a
/// client that read the checkpoint just before the log grew asks for the old width.
/// Paths that are not canonical are 404.
pub async fn tile(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    use pqreg_spec::tile::{EntryBundleId, TileId};
    let tail = req.match_info().get("path").unwrap_or_default();
    let unknown = || ApiError::new(Code::LogTileUnknown).msg(format!("no tile {tail:?}"));
    let path = format!("tile/{tail}");
    let parsed = TilePath::parse(&path).map_err(|_| unknown())?;
    let size = st.log.head().size;
    // A partial width is served if the newest checkpoint's tree reaches it; it is read,
    // in one transaction, from the full tile or the widest stored partial one, and cut
    // to the width asked for.
    let (full, full_path, width, entries) = match parsed {
        TilePath::Hashes(id) => {
            let reach = TileId::at_size(id.level, id.index, size).map_or(0, |c| c.width);
            if !id.is_full() && reach < id.width {
                return Err(unknown());
            }
            let f = TileId { width: 256, ..id };
            (id.is_full(), f.path(), id.width, false)
        }
        TilePath::Entries(id) => {
            let reach = EntryBundleId::for_entry(id.index * 256, size).map_or(0, |(c, _)| c.width);
            if id.width != 256 && reach < id.width {
                return Err(unknown());
            }
            let f = EntryBundleId { width: 256, ..id };
            (id.width == 256, f.path(), id.width, true)
        }
    };
    let data = if full {
        let p = path.clone();
        blocking(&st, move |l| l.read_tile(&p))
            .await?
            .ok_or_else(unknown)?
    } else {
        let (got, data) = blocking(&st, move |l| l.read_at_least(&full_path, width))
            .await?
            .ok_or_else(unknown)?;
        if got == width {
            data
        } else if entries {
            // Each entry is a 2-byte big-endian length and that many bytes.
            let mut end = 0usize;
            for _ in 0..width {
                let len = data
                    .get(end..end + 2)
                    .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                    .ok_or_else(unknown)?;
                end += 2 + len;
            }
            data.get(..end).ok_or_else(unknown)?.to_vec()
        } else {
            data.get(..usize::from(width) * 32)
                .ok_or_else(unknown)?
                .to_vec()
        }
    };
    let cache = if full { IMMUTABLE } else { "no-cache" };
    Ok(response(StatusCode::OK)
        .content_type("application/octet-stream")
        .insert_header(("Cache-Control", cache))
        .body(data))
}

fn num(q: &[(String, String)], key: &str) -> ApiResult<u64> {
    let v = param(q, key)
        .ok_or_else(|| ApiError::new(Code::ParamInvalid).msg(format!("{key} is required")))?;
    if v.len() > 1 && v.starts_with('0') {
        return Err(ApiError::new(Code::ParamInvalid).msg(format!("{key}: leading zero")));
    }
    v.parse::<u64>()
        .map_err(|_| ApiError::new(Code::ParamInvalid).msg(format!("{key} must be a number")))
}

fn only(q: &[(String, String)], allowed: &[&str]) -> ApiResult<()> {
    match q.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        Some((k, _)) => {
            Err(ApiError::new(Code::ParamInvalid).msg(format!("unknown parameter {k}")))
        }
        None => Ok(()),
    }
}

fn check_size(st: &AppState, size: u64) -> ApiResult<()> {
    let head = st.log.head().size;
    if size > head {
        return Err(ApiError::new(Code::SizeUnknown).msg(format!(
            "size {size} exceeds the newest checkpoint ({head})"
        )));
    }
    Ok(())
}

/// `GET /log/v1/proof/inclusion?index=&size=` or `?leaf_hash=&size=`.
pub async fn inclusion(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    only(&q, &["index", "leaf_hash", "size"])?;
    let size = num(&q, "size")?;
    check_size(&st, size)?;
    let index = match (param(&q, "index"), param(&q, "leaf_hash")) {
        (Some(_), None) => num(&q, "index")?,
        (None, Some(h)) => {
            let leaf = B64Hash::parse(h).map_err(|_| {
                ApiError::new(Code::ParamInvalid).msg("leaf_hash must be base64 of 32 bytes")
            })?;
            blocking(&st, move |l| l.index_of_leaf(&leaf.0, size))
                .await?
                .ok_or_else(|| {
                    ApiError::new(Code::LeafUnknown)
                        .msg(format!("no entry with this leaf hash below size {size}"))
                })?
        }
        _ => {
            return Err(
                ApiError::new(Code::ParamInvalid).msg("give exactly one of index and leaf_hash")
            );
        }
    };
    if index >= size {
        return Err(ApiError::new(Code::IndexOutOfRange)
            .msg(format!("index {index} is not below size {size}")));
    }
    let (leaf, proof) = blocking(&st, move |l| l.inclusion(index, size)).await?;
    Ok(HttpResponse::Ok().json(InclusionProofResponse {
        index,
        size,
        leaf_hash: B64Hash(leaf),
        proof: proof.into_iter().map(B64Hash).collect(),
    }))
}

/// `GET /log/v1/proof/consistency?from=&to=`.
pub async fn consistency(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    only(&q, &["from", "to"])?;
    let (from, to) = (num(&q, "from")?, num(&q, "to")?);
    check_size(&st, to)?;
    if from > to {
        return Err(ApiError::new(Code::SizeDecreased).msg(format!("from {from} > to {to}")));
    }
    let proof = blocking(&st, move |l| l.consistency(from, to)).await?;
    Ok(HttpResponse::Ok().json(ConsistencyProofResponse {
        from,
        to,
        proof: proof.into_iter().map(B64Hash).collect(),
    }))
}

/// `GET /log/v1/search?manifest=&signer=&repository=&tag=&after=&limit=` (§8.3).
pub async fn search(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    only(
        &q,
        &["manifest", "signer", "repository", "tag", "after", "limit"],
    )?;
    for k in ["manifest", "signer", "repository", "tag", "after", "limit"] {
        if q.iter().filter(|(n, _)| n == k).count() > 1 {
            return Err(ApiError::new(Code::ParamInvalid).msg(format!("{k} given twice")));
        }
    }
    let digest = |k: &str| -> ApiResult<Option<Digest>> {
        param(&q, k)
            .map(|v| {
                v.parse::<Digest>().map_err(|_| {
                    ApiError::new(Code::ParamInvalid).msg(format!("{k} must be sha256:<hex>"))
                })
            })
            .transpose()
    };
    let mut filter = Filter {
        manifest: digest("manifest")?,
        signer: digest("signer")?.map(pqreg_spec::keys::KeyId),
        repository: param(&q, "repository").map(str::to_owned),
        tag: param(&q, "tag").map(str::to_owned),
        ids: None,
    };
    if filter.is_empty() {
        return Err(ApiError::new(Code::ParamInvalid)
            .msg("give at least one of manifest, signer, repository, tag"));
    }
    // Keyed entries (spec/transparency-log.md §3.2) match a repository's name only for a
    // caller who may pull it: the ids come from its name key.
    let may_pull = filter.repository.as_deref().is_some_and(|r| {
        req.extensions()
            .get::<crate::auth::Access>()
            .is_some_and(|a| a.actions(r).has(crate::auth::Action::Pull))
    });
    let after = match param(&q, "after") {
        Some(_) => Some(num(&q, "after")?),
        None => None,
    };
    let limit = match param(&q, "limit") {
        Some(_) => usize::try_from(num(&q, "limit")?).unwrap_or(usize::MAX),
        None => DEFAULT_LIMIT,
    };
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::new(Code::ParamInvalid).msg(format!("limit must be 1..{MAX_LIMIT}")));
    }
    let res = blocking(&st, move |l| {
        if may_pull && let Some(r) = filter.repository.as_deref() {
            filter.ids = l.name_ids(r, filter.tag.as_deref())?;
        }
        l.search(&filter, after, limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(res))
}

/// Reads a request body of at most `limit` bytes like an upload body (bounded, with the
/// idle timeout and minimum rate): 413 with `code` above the limit, 400 with `code` when
/// it stalls, is too slow or ends early.
async fn read_body(
    payload: web::Payload,
    st: &AppState,
    limit: usize,
    code: Code,
) -> ApiResult<Vec<u8>> {
    match read_small_body(st, payload, limit).await {
        Ok(b) => Ok(b),
        Err(SmallBodyError::TooLarge) => Err(ApiError::new(code)
            .with_status(413)
            .msg(format!("body larger than {limit} bytes"))
            .closing()),
        Err(SmallBodyError::Cut(why)) => Err(ApiError::new(code).msg(why).closing()),
    }
}

/// `POST /log/v1/entries` (§8.5): a signed submission; answers once the entry the
/// registry built from it is durable.
pub async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    st.writable()?;
    let body = read_body(payload, &st, MAX_SUBMISSION_BYTES, Code::LogEntryInvalid).await?;
    // Checked on this worker thread: the check is bounded CPU work (one signature of at
    // most 1 MiB of body, ~50 us for ML-DSA-65), and a trip through the blocking pool
    // (two thread wake-ups) cost more than the check itself. The workers run in parallel.
    let sub = Submission::verify(&body).map_err(|e| {
        let code = match &e {
            SubmissionError::Json(_) | SubmissionError::Envelope(_) => Code::LogEntryInvalid,
            SubmissionError::Name(_) => Code::NameInvalid,
            SubmissionError::Manifest(_) => Code::DigestInvalid,
            _ => Code::SignatureInvalid,
        };
        ApiError::new(code).msg(e.to_string())
    })?;
    // Access control (spec/auth.md §2): logging a signature needs `push` on its repository.
    // The middleware leaves the caller's access in every request it lets through; a
    // request without it did not pass the middleware, and is refused (fail closed).
    let Some(access) = req.extensions().get::<crate::auth::Access>().cloned() else {
        tracing::error!("log submission without an access decision: refused");
        return Err(ApiError::new(Code::Denied)
            .msg("no access decision was made for this request; refusing to log it"));
    };
    if !access
        .actions(&sub.repository)
        .has(crate::auth::Action::Push)
    {
        return Err(ApiError::new(Code::Denied)
            .msg(format!(
                "{} may not push to {}, so may not log its signatures",
                access.principal.audit_name(),
                sub.repository
            ))
            .detail(json!([{"type": "repository", "name": sub.repository, "action": "push"}])));
    }
    // One key of the metadata store, read here for the same reason: a redb read
    // transaction on pages that are cached while the log is busy.
    let exists = st
        .meta
        .get_manifest(&sub.repository, &sub.manifest.to_string())?
        .is_some();
    if !exists {
        return Err(ApiError::new(Code::ManifestUnknown).detail(
            json!({ "repository": sub.repository, "manifest": sub.manifest.to_string() }),
        ));
    }
    let entry = sub
        .entry(now())
        .map_err(|e| ApiError::new(Code::LogEntryInvalid).msg(e.to_string()))?;
    // Keyed names where spec/transparency-log.md §3.2 says so (may create the key: a
    // database write, so off the async threads).
    let s = st.clone();
    let entry = tokio::task::spawn_blocking(move || crate::tlog::names::prepare(&s, entry))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let done = st.log.append(&entry).await.map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(done.to_json()))
}

/// `GET /v2/<name>/_pqreg/log-name-key` (spec/transparency-log.md §3.2): the repository's
/// name key, for a caller with `pull` on it (the middleware checked that, as for every
/// `GET /v2/<name>/...`); `404 NAME_UNKNOWN` when none of its entries is keyed.
pub async fn name_key(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let name = super::repo(&req)?;
    let n = name.clone();
    let key = blocking(&st, move |l| l.name_key(&n)).await?;
    let Some(key) = key else {
        return Err(ApiError::new(Code::NameUnknown)
            .msg("the log names this repository in clear: it has no name key")
            .detail(json!({ "repository": name })));
    };
    Ok(response(StatusCode::OK)
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({
            "repository": name,
            "origin": st.log.origin(),
            "nameKey": key.to_hex(),
        })))
}

/// `POST /log/v1/cosignature` (§7): a witness's cosignature of a recent checkpoint.
pub async fn cosignature(
    payload: web::Payload,
    st: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    st.writable()?;
    let body = read_body(
        payload,
        &st,
        pqreg_spec::note::MAX_NOTE_BYTES,
        Code::CosignatureMalformed,
    )
    .await?;
    let s = st.clone();
    let res = tokio::task::spawn_blocking(move || s.log.add_cosignature(&body))
        .await
        .map_err(ApiError::internal)?;
    match res {
        Ok(_) => Ok(response(StatusCode::NO_CONTENT).finish()),
        Err(e) => Err(match &e {
            CosignError::Malformed(_) => ApiError::new(Code::CosignatureMalformed),
            CosignError::UnknownCheckpoint => ApiError::new(Code::CheckpointUnknown),
            CosignError::NoWitness | CosignError::BadSignature(_) => {
                ApiError::new(Code::CosignatureRefused)
            }
            _ => return Err(ApiError::internal(e)),
        }
        .msg(e.to_string())),
    }
}

/// At manifest push: a manifest with a `subject` whose `artifactType` is the signature
/// bundle's must carry a bundle that is logged here (spec/signing.md §5); otherwise 400
/// `LOG_ENTRY_MISSING`. Other manifests pass.
pub(super) async fn check_bundle_referrer(
    st: &web::Data<AppState>,
    repo: &str,
    manifest: &[u8],
    parsed: &crate::manifest::Parsed,
) -> ApiResult<()> {
    let Some(subject) = parsed.subject else {
        return Ok(());
    };
    if parsed.artifact_type.as_deref() != Some(BUNDLE_MEDIA_TYPE) {
        return Ok(());
    }
    // pqreg's statements and log entries name manifests by SHA-256 only.
    let crate::digest::BlobDigest::Sha256(subject) = subject else {
        return Err(ApiError::new(Code::LogEntryMissing)
            .msg("a signature bundle's subject must be a sha256 digest")
            .detail(json!({ "subject": subject.to_string() })));
    };
    let missing = |reason: String| {
        ApiError::new(Code::LogEntryMissing)
            .msg(reason)
            .detail(json!({ "subject": subject.to_string() }))
    };
    let referrer = pqreg_spec::bundle::referrer::ReferrerManifest::from_json(manifest)
        .map_err(|e| missing(format!("not a signature-bundle referrer: {e}")))?;
    let blob = referrer.bundle.digest;
    let (r, b) = (repo.to_owned(), blob.to_string());
    if !st.db(move |m| m.has_link(&r, &b)).await? {
        return Err(
            ApiError::new(Code::ManifestBlobUnknown).detail(json!({ "digest": blob.to_string() }))
        );
    }
    let bytes = read_blob(st, &blob, MAX_BUNDLE_BYTES)
        .await?
        .ok_or_else(|| {
            ApiError::new(Code::ManifestBlobUnknown).detail(json!({ "digest": blob.to_string() }))
        })?;
    let repo = repo.to_owned();
    let s = st.clone();
    let res = tokio::task::spawn_blocking(move || s.log.check_bundle(&repo, &subject, &bytes))
        .await
        .map_err(ApiError::internal)?;
    match res {
        Ok(()) => Ok(()),
        Err(BundleCheckError::Log(e)) => Err(ApiError::internal(e)),
        Err(e) => Err(missing(e.to_string())),
    }
}

/// A whole blob of at most `limit` bytes (`None` if absent; too large is refused).
async fn read_blob(st: &AppState, digest: &Digest, limit: usize) -> ApiResult<Option<Vec<u8>>> {
    use futures_util::StreamExt;
    let blob = crate::digest::BlobDigest::from(*digest);
    let Some((size, mut stream)) = st.store.get(&blob, None).await? else {
        return Ok(None);
    };
    if size > limit as u64 {
        return Err(
            ApiError::new(Code::LogEntryMissing).msg(format!("bundle larger than {limit} bytes"))
        );
    }
    let mut out = Vec::with_capacity(size as usize);
    while let Some(piece) = stream.next().await {
        out.extend_from_slice(&piece?);
    }
    Ok(Some(out))
}
