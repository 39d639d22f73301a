//! The transparency log's HTTP API (spec/transparency-log.md §5, §8): checkpoint, tiles,
//! proofs, keys, and entry submission.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use pqreg_spec::logentry::LogEntry;
use pqreg_spec::merkle::api::{B64Hash, ConsistencyProofResponse, InclusionProofResponse};
use pqreg_spec::tile::TilePath;

use super::{param, query, response};
use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `GET /log/checkpoint`: the newest signed checkpoint.
pub async fn checkpoint(st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    Ok(response(StatusCode::OK)
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .body(st.log.head().note))
}

/// `GET /log/v1/keys`: the log's verifier keys, one per line (Ed25519, ML-DSA-44).
pub async fn keys(st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    Ok(response(StatusCode::OK)
        .content_type("text/plain; charset=utf-8")
        .body(st.log.keys().verifier_keys()))
}

/// `GET /log/tile/...`: a tile or entry bundle. A partial tile is served only at the
/// current size's width; paths that are not canonical are 404.
pub async fn tile(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let tail = req.match_info().get("path").unwrap_or_default();
    let unknown = || ApiError::new(Code::LogTileUnknown).msg(format!("no tile {tail:?}"));
    let path = format!("tile/{tail}");
    let parsed = TilePath::parse(&path).map_err(|_| unknown())?;
    let size = st.log.head().size;
    let (full, current) = match parsed {
        TilePath::Hashes(id) => (
            id.is_full(),
            pqreg_spec::tile::TileId::at_size(id.level, id.index, size) == Some(id),
        ),
        TilePath::Entries(id) => (
            id.width == 256,
            pqreg_spec::tile::EntryBundleId::for_entry(id.index * 256, size)
                .is_some_and(|(b, _)| b == id),
        ),
    };
    if !full && !current {
        return Err(unknown());
    }
    let log = st.clone();
    let p = path.clone();
    let data = tokio::task::spawn_blocking(move || log.log.read_tile(&p))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?
        .ok_or_else(unknown)?;
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

/// `GET /log/v1/proof/inclusion?index=&size=`.
pub async fn inclusion(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    only(&q, &["index", "size"])?;
    let (index, size) = (num(&q, "index")?, num(&q, "size")?);
    check_size(&st, size)?;
    if index >= size {
        return Err(ApiError::new(Code::IndexOutOfRange)
            .msg(format!("index {index} is not below size {size}")));
    }
    let s = st.clone();
    let (leaf, proof) = tokio::task::spawn_blocking(move || s.log.inclusion(index, size))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
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
    let s = st.clone();
    let proof = tokio::task::spawn_blocking(move || s.log.consistency(from, to))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(ConsistencyProofResponse {
        from,
        to,
        proof: proof.into_iter().map(B64Hash).collect(),
    }))
}

/// `POST /log/v1/entries`: body = one encoded entry; answers once it is durable.
pub async fn submit(body: web::Bytes, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    st.writable()?;
    if body.len() > 1024 {
        return Err(ApiError::new(Code::LogEntryInvalid).msg("entry larger than 1024 bytes"));
    }
    let entry = LogEntry::parse(&body)
        .map_err(|e| ApiError::new(Code::LogEntryInvalid).msg(e.to_string()))?;
    let done = st.log.append(&entry).await.map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(done))
}
