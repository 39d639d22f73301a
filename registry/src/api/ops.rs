//! `GET /v2/` and the operational endpoints (`/livez`, `/readyz`, `/metrics`).

use actix_web::{HttpResponse, web};

use crate::error::ApiResult;
use crate::state::AppState;

/// `GET /v2/`: the API version check.
pub async fn base() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body("{}")
}

/// `GET /livez`: the process answers.
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// `GET /readyz`: the metadata store answers and the blob store lists.
pub async fn readyz(st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    st.db(|m| m.repo_exists("readyz")).await?;
    st.store.list_uploads().await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain")
        .body("ready\n"))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let blobs = st.store.list().await?;
    st.metrics
        .store_bytes
        .set(i64::try_from(blobs.iter().map(|(_, s)| s.size).sum::<u64>()).unwrap_or(i64::MAX));
    st.metrics
        .store_blobs
        .set(i64::try_from(blobs.len()).unwrap_or(i64::MAX));
    let counts = st.db(|m| m.counts()).await?;
    for (kind, n) in ["repositories", "tags", "manifests", "links"]
        .iter()
        .zip(counts)
    {
        st.metrics
            .objects
            .with_label_values(&[*kind])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(st.metrics.render()))
}
