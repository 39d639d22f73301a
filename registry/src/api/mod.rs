//! The HTTP API: one route table mirroring OCI distribution-spec v1.1 (and `spec/api.md`
//! for pqreg's own endpoints). Each row: path pattern, method, handler, spec section.
//!
//! Repository names have several path components, so `{name:.+}` is a regex segment;
//! resources are tried in table order and the upload routes come before the blob routes.

mod blobs;
mod discovery;
mod log;
mod manifests;
mod ops;
#[cfg(target_os = "linux")]
pub mod sendfile;
mod uploads;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::{ApiError, ApiResult, Code};
use crate::names;

/// One row of the route table, for documentation and tests.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    /// HTTP method.
    pub method: &'static str,
    /// actix path pattern.
    pub path: &'static str,
    /// Where it is specified.
    pub spec: &'static str,
}

const SPEC: &str = "https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md";

macro_rules! routes {
    ($( $path:literal => { $( $m:ident $h:path => $spec:literal ),+ $(,)? } )+) => {
        /// Every endpoint served, in matching order.
        pub const ROUTES: &[RouteDoc] = &[
            $( $( RouteDoc { method: stringify!($m), path: $path, spec: $spec }, )+ )+
        ];

        /// Registers every route.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    web::resource($path)
                        $( .route(web::method(Method::$m).to($h)) )+
                        .default_service(web::to(method_not_allowed)),
                );
            )+
            cfg.default_service(web::to(not_found));
        }
    };
}

routes! {
    "/v2/" => {
        GET ops::base => "#determining-support (end-1)",
    }
    "/v2/_catalog" => {
        GET discovery::catalog => "spec/api.md#catalog (distribution's /v2/_catalog)",
    }
    "/v2/{name:.+}/blobs/uploads/" => {
        POST uploads::start => "#pushing-blobs (end-4a, end-4b, end-11)",
    }
    "/v2/{name:.+}/blobs/uploads" => {
        POST uploads::start => "same, without the trailing slash (curl -T, some clients)",
    }
    "/v2/{name:.+}/blobs/uploads/{id}" => {
        GET uploads::status => "#pushing-a-blob-in-chunks (end-13)",
        PATCH uploads::patch => "#pushing-a-blob-in-chunks (end-5)",
        PUT uploads::finish => "#pushing-a-blob-in-chunks (end-6)",
        DELETE uploads::cancel => "#deleting-blobs (upload cancel)",
    }
    "/v2/{name:.+}/blobs/{digest}" => {
        GET blobs::get => "#pulling-blobs (end-2)",
        HEAD blobs::head => "#checking-if-content-exists-in-the-registry (end-2)",
        DELETE blobs::delete => "#deleting-blobs (end-10)",
    }
    "/v2/{name:.+}/manifests/{reference}" => {
        GET manifests::get => "#pulling-manifests (end-3)",
        HEAD manifests::head => "#checking-if-content-exists-in-the-registry (end-3)",
        PUT manifests::put => "#pushing-manifests (end-7)",
        DELETE manifests::delete => "#deleting-manifests (end-9)",
    }
    "/v2/{name:.+}/tags/list" => {
        GET discovery::tags => "#listing-tags (end-8a, end-8b)",
    }
    "/v2/{name:.+}/referrers/{digest}" => {
        GET discovery::referrers => "#listing-referrers (end-12a, end-12b)",
    }
    "/v2/{name:.+}/_pqreg/log-name-key" => {
        GET log::name_key => "spec/transparency-log.md §3.2 (the repository's log name key)",
    }
    "/livez" => {
        GET ops::livez => "spec/api.md#health",
    }
    "/readyz" => {
        GET ops::readyz => "spec/api.md#health",
    }
    "/metrics" => {
        GET ops::metrics => "spec/api.md#metrics",
    }
    "/auth/token" => {
        GET crate::auth::token_endpoint => "spec/auth.md §4.2 (Docker token authentication)",
    }
    "/log/checkpoint" => {
        GET log::checkpoint => "spec/transparency-log.md §5",
    }
    "/log/tile/{path:.+}" => {
        GET log::tile => "spec/transparency-log.md §5",
    }
    "/log/v1/keys" => {
        GET log::keys => "spec/transparency-log.md §8.4",
    }
    "/log/v1/entries" => {
        POST log::submit => "spec/transparency-log.md §8.5",
    }
    "/log/v1/proof/inclusion" => {
        GET log::inclusion => "spec/transparency-log.md §8.1",
    }
    "/log/v1/proof/consistency" => {
        GET log::consistency => "spec/transparency-log.md §8.2",
    }
    "/log/v1/search" => {
        GET log::search => "spec/transparency-log.md §8.3",
    }
    "/log/v1/cosignature" => {
        POST log::cosignature => "spec/transparency-log.md §7",
    }
}

/// The `Content-Security-Policy` of every response: the registry serves data, never
/// pages, so a document loaded from it gets no scripts, no subresources, an opaque origin
/// and may not be framed.
pub const CSP: &str = "default-src 'none'; sandbox; frame-ancestors 'none'";

/// The spec document the `#anchor` entries of [`ROUTES`] refer to.
pub const SPEC_URL: &str = SPEC;

async fn method_not_allowed() -> HttpResponse {
    use actix_web::ResponseError;
    ApiError::new(Code::Unsupported)
        .msg("method not allowed on this endpoint")
        .error_response()
}

async fn not_found() -> HttpResponse {
    use actix_web::ResponseError;
    ApiError::new(Code::NotFound).error_response()
}

/// The validated repository name of a request.
fn repo(req: &HttpRequest) -> ApiResult<String> {
    let name = req.match_info().get("name").unwrap_or_default();
    names::check_name(name)?;
    Ok(name.to_owned())
}

/// The query string as pairs (repeated keys kept in order).
pub(crate) fn query(req: &HttpRequest) -> ApiResult<Vec<(String, String)>> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|e| ApiError::new(Code::ParamInvalid).msg(e.to_string()))
}

fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `n` and `last` of a paginated list; `n` defaults to and is capped at `max`.
fn page(q: &[(String, String)], max: usize) -> ApiResult<(usize, Option<String>)> {
    let n = match param(q, "n") {
        None => max,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| ApiError::new(Code::ParamInvalid).msg("n must be a non-negative integer"))?
            .min(max),
    };
    Ok((n, param(q, "last").map(str::to_owned)))
}

fn response(status: actix_web::http::StatusCode) -> actix_web::HttpResponseBuilder {
    HttpResponse::build(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// spec/api.md's endpoint table lists exactly the routes served.
    #[test]
    fn doc_routes_match_table() {
        let doc = include_str!("../../../spec/api.md");
        let start = doc.find("<!-- table: routes -->").expect("marker");
        let rows: Vec<(String, String)> = doc[start..]
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .map(|l| {
                let c: Vec<&str> = l.split('|').map(str::trim).collect();
                (
                    c[1].trim_matches('`').to_owned(),
                    c[2].trim_matches('`').to_owned(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        assert_eq!(rows, want);
    }
}
