//! The request check and the token endpoint (spec/auth.md §2, §4.2, §5).

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use actix_web::body::EitherBody;
use actix_web::dev::{ResourceDef, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::{Method, StatusCode, Uri};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine;
use serde_json::json;

use super::audit::{Audit, Record};
use super::token::AccessEntry;
use super::{Access, Action, Actions, Auth, Decision, Mode, Principal};
use crate::error::{ApiError, ApiResult, Code};
use crate::limits::Sessions;
use crate::state::AppState;

/// Most scopes one token request may ask for.
pub const MAX_SCOPES: usize = 16;

/// What a request needs (spec/auth.md §2).
#[derive(Debug, Clone, PartialEq)]
pub enum Need {
    /// Nothing (health, metrics, the token endpoint, unknown paths).
    Open,
    /// Any authenticated caller (`GET /v2/`).
    Login,
    /// The catalog (filtered by the handler).
    Catalog,
    /// The log's read API.
    LogRead,
    /// A log submission (the handler checks `push` on the submitted repository).
    LogWrite,
    /// An action on a repository; for a mount, the source repository too.
    Repo {
        /// Repository name as routed.
        name: String,
        /// The action.
        action: Action,
        /// `from` of a cross-repository mount.
        mount_from: Option<String>,
    },
}

fn route_defs() -> &'static [(ResourceDef, &'static str)] {
    static DEFS: OnceLock<Vec<(ResourceDef, &'static str)>> = OnceLock::new();
    DEFS.get_or_init(|| {
        let mut seen: Vec<&'static str> = Vec::new();
        for r in crate::api::ROUTES {
            if !seen.contains(&r.path) {
                seen.push(r.path);
            }
        }
        seen.into_iter().map(|p| (ResourceDef::new(p), p)).collect()
    })
}

/// Classifies a request by the route table, in the router's own matching order, so the
/// repository checked is the repository the handler serves.
pub fn classify(method: &Method, path: &str, query: &str) -> Need {
    for (def, pattern) in route_defs() {
        let mut p = actix_web::dev::Path::new(path);
        if !def.capture_match_info(&mut p) {
            continue;
        }
        return match *pattern {
            "/v2/" => Need::Login,
            "/v2/_catalog" => Need::Catalog,
            "/log/v1/entries" => Need::LogWrite,
            pat if pat.starts_with("/log/") => Need::LogRead,
            pat if pat.starts_with("/v2/{name") => {
                let name = p.get("name").unwrap_or_default().to_owned();
                let upload_session = pat.ends_with("/blobs/uploads/{id}");
                let action = match *method {
                    Method::GET | Method::HEAD => Action::Pull,
                    Method::DELETE if upload_session => Action::Push,
                    Method::DELETE => Action::Delete,
                    _ => Action::Push,
                };
                let mut mount_from = None;
                if *method == Method::POST && !upload_session {
                    let q: Vec<(String, String)> =
                        web::Query::from_query(query).map_or_else(|_| Vec::new(), |q| q.0);
                    let has = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                    if has("mount").is_some() {
                        mount_from = has("from");
                    }
                }
                Need::Repo {
                    name,
                    action,
                    mount_from,
                }
            }
            _ => Need::Open,
        };
    }
    Need::Open
}

/// Why credentials were not accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthFailure {
    /// They are wrong or malformed (`401`).
    Refused(String),
    /// Too many failures from this address or for this user (`429` with `Retry-After`,
    /// spec/auth.md §4.6); nothing was checked.
    Throttled {
        /// Seconds until the window ends.
        retry_after: u64,
        /// Which limit: `client address` or `user`.
        limit: &'static str,
    },
}

impl AuthFailure {
    /// The reason, for the audit log.
    pub fn reason(&self) -> String {
        match self {
            AuthFailure::Refused(r) => r.clone(),
            AuthFailure::Throttled { retry_after, limit } => format!(
                "too many failed authentications for this {limit}: retry in {retry_after} s"
            ),
        }
    }

    /// The `429` answer of a throttled request.
    fn response(&self) -> Option<HttpResponse> {
        let AuthFailure::Throttled { retry_after, .. } = self else {
            return None;
        };
        let mut resp = ApiError::new(Code::TooManyRequests)
            .msg(self.reason())
            .detail(json!({ "retry_after_secs": retry_after }))
            .error_response();
        if let Ok(v) = retry_after.to_string().parse() {
            resp.headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, v);
        }
        Some(resp)
    }
}

/// Reads `Authorization`; bcrypt runs off the async threads. `remote` is the peer address:
/// failures are counted per address and per user name, and a key past its limit is
/// refused before any bcrypt (spec/auth.md §4.6).
async fn authenticate(
    auth: &Arc<Auth>,
    header: Option<&str>,
    remote: &str,
) -> Result<Principal, AuthFailure> {
    let Some(h) = header else {
        return Ok(Principal::Anonymous);
    };
    let address = super::throttle::address_key(remote);
    let throttled = |user: Option<&str>| {
        auth.throttle
            .check(&address, user)
            .map(|(retry_after, limit)| AuthFailure::Throttled { retry_after, limit })
    };
    let refused = |user: Option<&str>, why: String| {
        auth.throttle.failed(&address, user);
        AuthFailure::Refused(why)
    };
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let malformed = || "malformed Basic credentials".to_owned();
        let pair = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok());
        let Some((user, pass)) = pair
            .as_deref()
            .and_then(|s| s.split_once(':'))
            .map(|(u, p)| (u.to_owned(), p.to_owned()))
        else {
            if let Some(t) = throttled(None) {
                return Err(t);
            }
            return Err(refused(None, malformed()));
        };
        if let Some(t) = throttled(Some(&user)) {
            // A password verified within the last minute still gets in (no bcrypt), so
            // a user whose name is attacked elsewhere keeps working.
            if auth.check_password_cached(&user, &pass) {
                return Ok(Principal::User(user));
            }
            return Err(t);
        }
        let a = auth.clone();
        let u = user.clone();
        let ok = web::block(move || a.check_password(&u, &pass))
            .await
            .unwrap_or(false);
        if ok {
            Ok(Principal::User(user))
        } else {
            Err(refused(Some(&user), "wrong user name or password".into()))
        }
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if let Some(t) = throttled(None) {
            return Err(t);
        }
        auth.check_token(rest)
            .map(Principal::Token)
            .map_err(|e| refused(None, e.to_string()))
    } else {
        Err(AuthFailure::Refused(format!(
            "unsupported authorization scheme {scheme:?}"
        )))
    }
}

fn scope_actions(action: Action) -> &'static str {
    match action {
        Action::Pull => "pull",
        Action::Push => "pull,push",
        Action::Delete => "delete",
    }
}

/// The `WWW-Authenticate` value for a refused request.
fn challenge(auth: &Auth, req: &ServiceRequest, scope: Option<&str>, insufficient: bool) -> String {
    match auth.mode() {
        Mode::Basic | Mode::None => "Basic realm=\"pqreg-registry\",charset=\"UTF-8\"".into(),
        Mode::Token => {
            let realm = auth.cfg.token.realm.clone().unwrap_or_else(|| {
                let ci = req.connection_info();
                format!("{}://{}/auth/token", ci.scheme(), ci.host())
            });
            let mut v = format!(
                "Bearer realm=\"{realm}\",service=\"{}\"",
                auth.cfg.token.service
            );
            if let Some(s) = scope {
                v.push_str(&format!(",scope=\"{s}\""));
            }
            if insufficient {
                v.push_str(",error=\"insufficient_scope\"");
            }
            v
        }
    }
}

/// How a refusal is answered.
#[derive(Clone, Copy, PartialEq)]
enum Refusal {
    /// `401 UNAUTHORIZED` with the challenge: no or failed credentials.
    Unauthenticated,
    /// `403 DENIED` with the challenge and `error="insufficient_scope"` (RFC 6750 §3.1): the
    /// token lacks a scope its holder could get; ask the token endpoint again.
    InsufficientScope,
    /// `403 DENIED`: the policy does not allow it.
    Denied,
}

fn refuse(
    auth: &Auth,
    req: ServiceRequest,
    how: Refusal,
    message: String,
    repo: Option<(&str, Action)>,
) -> ServiceResponse {
    let mut err = if how == Refusal::Unauthenticated {
        ApiError::new(Code::Unauthorized)
    } else {
        ApiError::new(Code::Denied)
    }
    .msg(message);
    if let Some((name, action)) = repo {
        err = err.detail(json!([{"type": "repository", "name": name, "action": action.as_str()}]));
    }
    let mut resp = err.error_response();
    if how != Refusal::Denied {
        let scope = repo.map(|(n, a)| format!("repository:{n}:{}", scope_actions(a)));
        let insufficient = how == Refusal::InsufficientScope;
        if let Ok(v) = challenge(auth, &req, scope.as_deref(), insufficient).parse() {
            resp.headers_mut()
                .insert(actix_web::http::header::WWW_AUTHENTICATE, v);
        }
    }
    req.into_response(resp)
}

/// Removes `mount` and `from` from a request's query, so the upload handler opens a new
/// session instead of mounting from a repository the caller may not read.
fn drop_mount(req: &mut ServiceRequest) {
    let uri = req.uri().clone();
    let kept: Vec<(String, String)> =
        web::Query::<Vec<(String, String)>>::from_query(uri.query().unwrap_or(""))
            .map_or_else(|_| Vec::new(), |q| q.0)
            .into_iter()
            .filter(|(k, _)| k != "mount" && k != "from")
            .collect();
    let q = serde_urlencoded::to_string(&kept).unwrap_or_default();
    let pq = if q.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{q}", uri.path())
    };
    if let Ok(new) = Uri::builder().path_and_query(pq).build() {
        req.head_mut().uri = new.clone();
        req.match_info_mut().get_mut().update(&new);
    }
}

/// The access-control middleware (wrap the app with it).
pub struct Guard {
    auth: Arc<Auth>,
    sessions: Arc<Sessions>,
}

impl Guard {
    /// A guard enforcing `auth` and the header-size limit kept in `sessions`.
    pub fn new(auth: Arc<Auth>, sessions: Arc<Sessions>) -> Guard {
        Guard { auth, sessions }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Guard
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = GuardService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GuardService {
            service: Rc::new(service),
            auth: self.auth.clone(),
            sessions: self.sessions.clone(),
        }))
    }
}

/// [`Guard`]'s per-worker service.
pub struct GuardService<S> {
    service: Rc<S>,
    auth: Arc<Auth>,
    sessions: Arc<Sessions>,
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for GuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = BoxFut<Result<Self::Response, Self::Error>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let svc = self.service.clone();
        let auth = self.auth.clone();
        let sessions = self.sessions.clone();
        Box::pin(async move { check(auth, &sessions, req, &*svc).await })
    }
}

/// The middleware body: authenticate, decide, record, then call `srv` or answer itself.
pub async fn check<S, B>(
    auth: Arc<Auth>,
    sessions: &Sessions,
    mut req: ServiceRequest,
    srv: &S,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + req.path().len()
        + req.query_string().len();
    if header_bytes > sessions.max_header_bytes {
        let resp = ApiError::new(Code::HeadersTooLarge)
            .msg(format!(
                "the request line and headers take {header_bytes} bytes; the limit is {}",
                sessions.max_header_bytes
            ))
            .error_response();
        return Ok(req.into_response(resp).map_into_right_body());
    }
    let need = classify(req.method(), req.match_info().as_str(), req.query_string());
    if auth.mode() == Mode::None || need == Need::Open {
        req.extensions_mut().insert(Access {
            auth,
            principal: Principal::Anonymous,
        });
        return srv.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The socket's peer (not a forwarded-for header a client could set).
    let remote = req
        .peer_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    let principal = match (
        header.as_deref(),
        req.conn_data::<crate::tls::ClientIdentity>(),
    ) {
        // A verified client certificate names the caller when no other credentials are given.
        (None, Some(id)) => Ok(Principal::User(id.0.clone())),
        (h, _) => authenticate(&auth, h, &remote).await,
    };
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let audit = |who: &str, repo: Option<&str>, action: &str, allowed: bool, reason: &str| {
        auth.audit.record(&Record {
            time: Audit::now(),
            remote: &remote,
            principal: who,
            method: &method,
            path: &path,
            repository: repo,
            action,
            allowed,
            reason,
        });
    };
    let principal = match principal {
        Ok(p) => p,
        Err(failure) => {
            let (repo, action) = match &need {
                Need::Repo { name, action, .. } => (Some(name.as_str()), Some(*action)),
                _ => (None, None),
            };
            let reason = failure.reason();
            audit(
                "unauthenticated",
                repo,
                action.map_or("login", Action::as_str),
                false,
                &reason,
            );
            if let Some(resp) = failure.response() {
                return Ok(req.into_response(resp).map_into_right_body());
            }
            let r = refuse(
                &auth,
                req,
                Refusal::Unauthenticated,
                reason,
                repo.zip(action),
            );
            return Ok(r.map_into_right_body());
        }
    };
    let who = principal.audit_name();
    let anonymous = principal == Principal::Anonymous;
    let decision = match &need {
        Need::Open => Decision::Allow,
        Need::Login | Need::LogWrite if anonymous => {
            Decision::Challenge("authentication required".into())
        }
        Need::Login | Need::LogWrite => Decision::Allow,
        Need::Catalog if anonymous && !auth.policy.any_anonymous() => {
            Decision::Challenge("authentication required".into())
        }
        Need::Catalog => Decision::Allow,
        Need::LogRead if auth.cfg.log_public || !anonymous => Decision::Allow,
        Need::LogRead => Decision::Challenge("authentication required to read the log".into()),
        Need::Repo { name, action, .. } => auth.decide(&principal, name, *action),
    };
    let (repo, action) = match &need {
        Need::Repo { name, action, .. } => (Some(name.clone()), Some(*action)),
        _ => (None, None),
    };
    let action_name = match &need {
        Need::Repo { action, .. } => action.as_str(),
        Need::Catalog => "catalog",
        Need::LogRead => "log-read",
        Need::LogWrite => "log-submit",
        _ => "login",
    };
    match decision {
        Decision::Allow => {
            audit(&who, repo.as_deref(), action_name, true, "allowed");
            if let Need::Repo {
                mount_from: Some(from),
                ..
            } = &need
                && !auth.actions(&principal, from).has(Action::Pull)
            {
                audit(
                    &who,
                    Some(from),
                    "pull",
                    false,
                    "mount source not readable: serving a new upload session instead",
                );
                drop_mount(&mut req);
            }
            // Upload-session and body-stream caps are counted by the upload handlers, from
            // what they did (crate::limits).
            req.extensions_mut().insert(Access { auth, principal });
            srv.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        Decision::Challenge(reason) => {
            audit(&who, repo.as_deref(), action_name, false, &reason);
            let how = if matches!(principal, Principal::Token(_)) {
                Refusal::InsufficientScope
            } else {
                Refusal::Unauthenticated
            };
            let r = refuse(&auth, req, how, reason, repo.as_deref().zip(action));
            Ok(r.map_into_right_body())
        }
        Decision::Deny(reason) => {
            audit(&who, repo.as_deref(), action_name, false, &reason);
            let r = refuse(
                &auth,
                req,
                Refusal::Denied,
                reason,
                repo.as_deref().zip(action),
            );
            Ok(r.map_into_right_body())
        }
    }
}

/// `GET /auth/token` (spec/auth.md §4.2).
pub async fn token_endpoint(req: HttpRequest, st: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let auth = st.auth.clone();
    let Some(tokens) = auth.tokens() else {
        return Err(ApiError::new(Code::NotFound)
            .msg("this registry issues no tokens (auth.mode is not \"token\")"));
    };
    let bad = |m: &str| ApiError::new(Code::TokenRequestInvalid).msg(m.to_owned());
    let q: Vec<(String, String)> =
        web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map_err(|_| bad("malformed query string"))?
            .0;
    let service = q
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.as_str());
    if service != Some(tokens.service()) {
        return Err(bad(&format!(
            "unknown service: this registry's service is {:?}",
            tokens.service()
        )));
    }
    let scopes: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' '))
        .filter(|s| !s.is_empty())
        .collect();
    if scopes.len() > MAX_SCOPES {
        return Err(bad("too many scopes"));
    }
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let remote = req
        .connection_info()
        .peer_addr()
        .unwrap_or("unknown")
        .to_owned();
    let peer = req
        .peer_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    let principal = match header {
        Some(h) if h.len() > 6 && h[..6].eq_ignore_ascii_case("basic ") => {
            authenticate(&auth, Some(h), &peer).await
        }
        Some(_) => Err(AuthFailure::Refused(
            "the token endpoint takes Basic credentials".to_owned(),
        )),
        None => Ok(Principal::Anonymous),
    };
    let record = |who: &str, allowed: bool, reason: &str| {
        auth.audit.record(&Record {
            time: Audit::now(),
            remote: &remote,
            principal: who,
            method: "GET",
            path: req.path(),
            repository: None,
            action: "token",
            allowed,
            reason,
        });
    };
    let principal = match principal {
        Ok(p) => p,
        Err(failure) => {
            let reason = failure.reason();
            record("unauthenticated", false, &reason);
            if let Some(resp) = failure.response() {
                return Ok(resp);
            }
            let mut resp = ApiError::new(Code::Unauthorized)
                .msg(reason)
                .error_response();
            if let Ok(v) = "Basic realm=\"pqreg-registry\",charset=\"UTF-8\"".parse() {
                resp.headers_mut()
                    .insert(actix_web::http::header::WWW_AUTHENTICATE, v);
            }
            return Ok(resp);
        }
    };
    let mut access = Vec::new();
    for s in scopes {
        let mut parts = s.splitn(2, ':');
        let kind = parts.next().unwrap_or_default();
        let rest = parts
            .next()
            .ok_or_else(|| bad(&format!("malformed scope {s:?}")))?;
        let (name, acts) = rest
            .rsplit_once(':')
            .ok_or_else(|| bad(&format!("malformed scope {s:?}")))?;
        if kind != "repository" {
            continue; // e.g. registry:catalog:* — the catalog filters by pull rights instead
        }
        crate::names::check_name(name)
            .map_err(|_| bad(&format!("invalid repository in scope {s:?}")))?;
        let asked: Actions = acts
            .split(',')
            .flat_map(|a| match a {
                "*" => vec![Action::Pull, Action::Push, Action::Delete],
                other => Action::parse(other).into_iter().collect(),
            })
            .collect();
        let user = match &principal {
            Principal::User(u) => Some(u.as_str()),
            _ => None,
        };
        let granted = asked.and(auth.policy.allowed(user, name));
        access.push(AccessEntry {
            kind: "repository".into(),
            name: name.to_owned(),
            actions: granted
                .list()
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
        });
    }
    let subject = match &principal {
        Principal::User(u) => Some(u.as_str()),
        _ => None,
    };
    let granted_text = access
        .iter()
        .map(|a| format!("{}:{}", a.name, a.actions.join(",")))
        .collect::<Vec<_>>()
        .join(" ");
    let (token, iat) = tokens.issue(subject, access).map_err(ApiError::internal)?;
    record(
        &principal.audit_name(),
        true,
        &format!("granted [{granted_text}]"),
    );
    let issued_at = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(iat),
    )
    .to_string();
    Ok(HttpResponse::build(StatusCode::OK)
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({
            "token": token,
            "access_token": token,
            "expires_in": tokens.ttl(),
            "issued_at": issued_at,
        })))
}
