//! Content discovery: tags list, catalog, referrers.

use actix_web::HttpMessage;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{page, param, query, repo, response};
use crate::error::{ApiError, ApiResult, Code};
use crate::manifest::OCI_INDEX;
use crate::names;
use crate::state::AppState;

/// `GET /v2/<name>/tags/list[?n=&last=]`.
pub async fn tags(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let name = repo(&req)?;
    let q = query(&req)?;
    let (n, last) = page(&q, st.cfg.max_page)?;
    let (exists, mut tags) = {
        let name = name.clone();
        st.db(move |m| {
            let exists = m.repo_exists(&name)?;
            let tags = m.list_tags(&name, last.as_deref(), n.saturating_add(1))?;
            Ok((exists, tags))
        })
        .await?
    };
    if !exists {
        return Err(ApiError::new(Code::NameUnknown).detail(json!({ "name": name })));
    }
    let more = tags.len() > n;
    tags.truncate(n);
    let mut r = response(StatusCode::OK);
    if more && let Some(l) = tags.last() {
        r.insert_header((
            "Link",
            format!("</v2/{name}/tags/list?n={n}&last={l}>; rel=\"next\""),
        ));
    }
    Ok(r.json(json!({ "name": name, "tags": tags })))
}

/// Fewest repository names the catalog reads per transaction.
const CATALOG_BATCH: usize = 512;

/// `GET /v2/_catalog[?n=&last=]`.
pub async fn catalog(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let q = query(&req)?;
    let (n, mut last) = page(&q, st.cfg.max_page)?;
    // Only repositories the caller may pull are listed (spec/auth.md §2): read batches of
    // names until n + 1 visible ones (one more tells whether a next page exists). A batch
    // is at least CATALOG_BATCH names, so a caller who may see few repositories costs a
    // few read transactions, not one per repository.
    let access = req.extensions().get::<crate::auth::Access>().cloned();
    let mut repos = Vec::new();
    if n == 0 {
        return Ok(response(StatusCode::OK).json(json!({ "repositories": repos })));
    }
    loop {
        let want = n.saturating_add(1).max(CATALOG_BATCH);
        let after = last.clone();
        let batch = st.db(move |m| m.list_repos(after.as_deref(), want)).await?;
        let exhausted = batch.len() < want;
        last = batch.last().cloned().or(last);
        repos.extend(batch.into_iter().filter(|r| {
            access
                .as_ref()
                .is_none_or(|a| a.auth.visible(&a.principal, r))
        }));
        if repos.len() > n || exhausted {
            break;
        }
    }
    let more = repos.len() > n;
    repos.truncate(n);
    let mut r = response(StatusCode::OK);
    if more && let Some(l) = repos.last() {
        r.insert_header((
            "Link",
            format!("</v2/_catalog?n={n}&last={l}>; rel=\"next\""),
        ));
    }
    Ok(r.json(json!({ "repositories": repos })))
}

/// `GET /v2/<name>/referrers/<digest>[?artifactType=]`: always 200 with an image index.
pub async fn referrers(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let name = repo(&req)?;
    let subject = names::parse_blob_digest(req.match_info().get("digest").unwrap_or_default())?;
    let q = query(&req)?;
    let filter = param(&q, "artifactType").map(str::to_owned);
    let subject_s = subject.to_string();
    let mut list = st.db(move |m| m.referrers(&name, &subject_s)).await?;
    let mut r = response(StatusCode::OK);
    if let Some(f) = &filter {
        list.retain(|d| d.get("artifactType").and_then(|a| a.as_str()) == Some(f.as_str()));
        r.insert_header(("OCI-Filters-Applied", "artifactType"));
    }
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list });
    Ok(r.content_type(OCI_INDEX).body(body.to_string()))
}
