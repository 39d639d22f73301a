//! The HTTP API: one route table mirroring OCI distribution-spec v1.1 (and `spec/api.md`
//! for pqreg's own endpoints). Each row: path pattern, method, handler, the access it needs
//! (spec/auth.md §2), spec section. A row without its access does not compile, and the
//! access is enforced by a guard wrapped around that route's handler alone, so a route
//! added later is never public by default.
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

use crate::auth::middleware::{Guard, Need};
use crate::error::{ApiError, ApiResult, Code};
use crate::names;

/// One row of the route table, for documentation and tests.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    /// HTTP method.
    pub method: &'static str,
    /// actix path pattern.
    pub path: &'static str,
    /// The access it needs (spec/auth.md §2).
    pub need: Need,
    /// Where it is specified.
    pub spec: &'static str,
}

const SPEC: &str = "https://github.com/opencontainers/distribution-spec/blob/v1.1.0/spec.md";

macro_rules! routes {
    ($( $path:literal => { $( $m:ident $h:path, $need:ident => $spec:literal ),+ $(,)? } )+) => {
        /// Every endpoint served, in matching order.
        pub const ROUTES: &[RouteDoc] = &[
            $( $( RouteDoc {
                method: stringify!($m),
                path: $path,
                need: Need::$need,
                spec: $spec,
            }, )+ )+
        ];

        /// Registers every route.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    web::resource($path)
                        $( .route(
                            web::method(Method::$m)
                                .to($h)
                                .wrap(Guard::new(Need::$need)),
                        ) )+
                        .default_service(web::to(method_not_allowed)),
                );
            )+
            cfg.default_service(web::to(not_found));
        }
    };
}

routes! {
    "/v2/" => {
        GET ops::base, Login => "#determining-support (end-1)",
    }
    "/v2/_catalog" => {
        GET discovery::catalog, Catalog => "spec/api.md#catalog (distribution's /v2/_catalog)",
    }
    "/v2/{name:.+}/blobs/uploads/" => {
        POST uploads::start, Upload => "#pushing-blobs (end-4a, end-4b, end-11)",
    }
    "/v2/{name:.+}/blobs/uploads" => {
        POST uploads::start, Upload => "same, without the trailing slash (curl -T, some clients)",
    }
    "/v2/{name:.+}/blobs/uploads/{id}" => {
        GET uploads::status, Pull => "#pushing-a-blob-in-chunks (end-13)",
        PATCH uploads::patch, Push => "#pushing-a-blob-in-chunks (end-5)",
        PUT uploads::finish, Push => "#pushing-a-blob-in-chunks (end-6)",
        DELETE uploads::cancel, Push => "#deleting-blobs (upload cancel)",
    }
    "/v2/{name:.+}/blobs/{digest}" => {
        GET blobs::get, Pull => "#pulling-blobs (end-2)",
        HEAD blobs::head, Pull => "#checking-if-content-exists-in-the-registry (end-2)",
        DELETE blobs::delete, Delete => "#deleting-blobs (end-10)",
    }
    "/v2/{name:.+}/manifests/{reference}" => {
        GET manifests::get, Pull => "#pulling-manifests (end-3)",
        HEAD manifests::head, Pull => "#checking-if-content-exists-in-the-registry (end-3)",
        PUT manifests::put, Push => "#pushing-manifests (end-7)",
        DELETE manifests::delete, Delete => "#deleting-manifests (end-9)",
    }
    "/v2/{name:.+}/tags/list" => {
        GET discovery::tags, Pull => "#listing-tags (end-8a, end-8b)",
    }
    "/v2/{name:.+}/referrers/{digest}" => {
        GET discovery::referrers, Pull => "#listing-referrers (end-12a, end-12b)",
    }
    "/v2/{name:.+}/_pqreg/log-name-key" => {
        GET log::name_key, Pull => "spec/transparency-log.md §3.2 (the repository's log name key)",
    }
    "/livez" => {
        GET ops::livez, Public => "spec/api.md#health",
    }
    "/readyz" => {
        GET ops::readyz, Public => "spec/api.md#health",
    }
    "/metrics" => {
        GET ops::metrics, Public => "spec/api.md#metrics",
    }
    "/auth/token" => {
        GET crate::auth::token_endpoint, Public => "spec/auth.md §4.2 (Docker token authentication)",
    }
    "/log/checkpoint" => {
        GET log::checkpoint, LogRead => "spec/transparency-log.md §5",
    }
    "/log/tile/{path:.+}" => {
        GET log::tile, LogRead => "spec/transparency-log.md §5",
    }
    "/log/v1/keys" => {
        GET log::keys, LogRead => "spec/transparency-log.md §8.4",
    }
    "/log/v1/entries" => {
        POST log::submit, LogSubmit => "spec/transparency-log.md §8.5",
    }
    "/log/v1/proof/inclusion" => {
        GET log::inclusion, LogRead => "spec/transparency-log.md §8.1",
    }
    "/log/v1/proof/consistency" => {
        GET log::consistency, LogRead => "spec/transparency-log.md §8.2",
    }
    "/log/v1/search" => {
        GET log::search, LogRead => "spec/transparency-log.md §8.3",
    }
    "/log/v1/cosignature" => {
        POST log::cosignature, Public => "spec/transparency-log.md §7",
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

    /// The cells of the markdown table after `<!-- table: <marker> -->` in `doc`, without
    /// the header, backticks trimmed.
    fn doc_table(doc: &str, marker: &str) -> Vec<Vec<String>> {
        let start = doc
            .find(&format!("<!-- table: {marker} -->"))
            .expect("marker");
        doc[start..]
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .map(|l| {
                let c: Vec<&str> = l.split('|').map(str::trim).collect();
                c[1..c.len() - 1]
                    .iter()
                    .map(|c| c.trim_matches('`').to_owned())
                    .collect()
            })
            .collect()
    }

    /// spec/api.md's endpoint table lists exactly the routes served.
    #[test]
    fn doc_routes_match_table() {
        let doc = include_str!("../../../spec/api.md");
        let rows: Vec<(String, String)> = doc_table(doc, "routes")
            .into_iter()
            .map(|c| (c[0].clone(), c[1].clone()))
            .collect();
        let want: Vec<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        assert_eq!(rows, want);
    }

    /// spec/auth.md §2 gives every route served the access the table enforces, and names
    /// exactly the accesses there are.
    #[test]
    fn doc_access_matches_table() {
        let doc = include_str!("../../../spec/auth.md");
        let rows = doc_table(doc, "access");
        let want: Vec<Vec<String>> = ROUTES
            .iter()
            .map(|r| {
                vec![
                    r.method.to_owned(),
                    r.path.to_owned(),
                    r.need.as_str().to_owned(),
                ]
            })
            .collect();
        assert_eq!(rows, want);
        let names: Vec<String> = doc_table(doc, "accesses")
            .into_iter()
            .map(|c| c[0].clone())
            .collect();
        let want: Vec<&str> = Need::ALL.iter().map(|n| n.as_str()).collect();
        assert_eq!(names, want);
    }

    /// The log submission handler itself refuses a request that carries no access
    /// decision (issue 12 §6: it used to skip the push check then, i.e. fail open). Every
    /// route's guard leaves one, so the handler is mounted here without its guard.
    #[test]
    fn submission_without_access_decision_is_refused() {
        use base64::Engine as _;
        use pqreg_spec::Digest;
        use pqreg_spec::dsse::Envelope;
        use pqreg_spec::keys::{SignatureAlgorithm, SigningKey};
        use pqreg_spec::statement::{FileEntry, PAYLOAD_TYPE, Statement};

        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = crate::config::Config {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            ..crate::config::Config::default()
        };
        let state = web::Data::new(crate::open_state(cfg).expect("state"));
        // A manifest that does not exist: a handler that skipped the push check would go on
        // and answer 404 MANIFEST_UNKNOWN instead of refusing.
        let m = Digest::sha256(b"no such manifest");
        let key = SigningKey::generate(SignatureAlgorithm::MlDsa65).expect("key");
        let file = FileEntry {
            path: "model.safetensors".into(),
            digest: Digest::sha256(b"weights"),
            size: 7,
        };
        let payload = Statement::from_files("m", &[file], Some(m))
            .expect("statement")
            .to_json();
        let env = Envelope::sign(PAYLOAD_TYPE, payload, &[&key]).expect("sign");
        let env: serde_json::Value = serde_json::from_slice(&env.to_json()).expect("json");
        let spki =
            base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_spki_der());
        let body = serde_json::to_vec(&serde_json::json!({"repository": "acme/model",
            "tag": "v1", "manifest": m.to_string(), "dsseEnvelope": env, "publicKey": spki}))
        .expect("body");
        actix_web::rt::System::new().block_on(async move {
            use actix_web::test as at;
            let app = at::init_service(
                actix_web::App::new()
                    .app_data(state.clone())
                    .route("/log/v1/entries", web::post().to(log::submit)),
            )
            .await;
            let req = at::TestRequest::post()
                .uri("/log/v1/entries")
                .insert_header(("Content-Type", "application/json"))
                .set_payload(body)
                .to_request();
            let resp = at::call_service(&app, req).await;
            let status = resp.status().as_u16();
            let bytes = at::read_body(resp).await;
            let text = String::from_utf8_lossy(&bytes);
            assert_eq!(status, 403, "{text}");
            assert!(text.contains("DENIED"), "{text}");
            assert_eq!(state.log.head().size, 0, "nothing was logged");
        });
    }
}
