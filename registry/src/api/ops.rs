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
    let unavailable = |e: crate::error::ApiError| e.with_status(503).msg("not ready");
    st.db(|m| m.repo_exists("readyz"))
        .await
        .map_err(unavailable)?;
    st.store
        .list_uploads()
        .await
        .map_err(|e| unavailable(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain")
        .body("ready\n"))
}

/// `GET /metrics`: Prometheus text format. The store totals are counted once, at the
/// first scrape, with commits and deletes held off; `metrics::CountedStore` keeps them
/// from then on, so a scrape does not grow with the store.
pub async fn metrics(st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    st.metrics
        .store_counted
        .get_or_try_init(|| async {
            let _quiet = st.gc_lock.write().await;
            crate::metrics::recount(st.store.as_ref(), &st.metrics).await
        })
        .await?;
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
