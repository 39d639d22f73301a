//! The request check and the token endpoint (spec/auth.md §2, §4.2, §5).
//!
//! The access a request needs is not worked out from its path: every row of the route
//! table ([`crate::api::ROUTES`]) names its [`Need`], and [`crate::api::configure`] wraps
//! each route's handler in a [`Guard`] for that need. A request the router matches to no
//! route reaches no handler (`404`, or `405` for a known path with another method) and
//! so needs nothing.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::{StatusCode, Uri};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine;
use serde_json::json;

use super::audit::{Audit, Record};
use super::token::AccessEntry;
use super::{Access, Action, Actions, Auth, Decision, Mode, Principal};
use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;

/// Most scopes one token request may ask for.
pub const MAX_SCOPES: usize = 16;

/// The access a route needs: a column of the route table, named as in spec/auth.md §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: health, metrics, the token endpoint (it checks its own credentials) and a
    /// witness cosignature (authenticated by the witness's signature).
    Public,
    /// Any authenticated caller (`GET /v2/`).
    Login,
    /// The catalog: authenticated, or anonymous where some repository allows anonymous
    /// pull (the handler filters the answer).
    Catalog,
    /// `pull` on the routed repository.
    Pull,
    /// `push` on the routed repository.
    Push,
    /// `push` on the routed repository, and for a cross-repository mount `pull` on the
    /// source (without it the mount parameters are dropped).
    Upload,
    /// `delete` on the routed repository.
    Delete,
    /// The log's read API: public unless `auth.log_public = false`.
    LogRead,
    /// A log submission: authenticated (the handler checks `push` on the submitted
    /// repository).
    LogSubmit,
}

impl Need {
    /// Every need, in spec/auth.md §2 order.
    pub const ALL: [Need; 9] = [
        Need::Public,
        Need::Login,
        Need::Catalog,
        Need::Pull,
        Need::Push,
        Need::Upload,
        Need::Delete,
        Need::LogRead,
        Need::LogSubmit,
    ];

    /// The name spec/auth.md §2 gives it (also the audit log's `action` for needs that are
    /// not a repository action).
    pub fn as_str(self) -> &'static str {
        match self {
            Need::Public => "public",
            Need::Login => "login",
            Need::Catalog => "catalog",
            Need::Pull => "pull",
            Need::Push => "push",
            Need::Upload => "upload",
            Need::Delete => "delete",
            Need::LogRead => "log-read",
            Need::LogSubmit => "log-submit",
        }
    }

    /// The action needed on the routed repository (`{name}`), if the need is one.
    pub fn action(self) -> Option<Action> {
        match self {
            Need::Pull => Some(Action::Pull),
            Need::Push | Need::Upload => Some(Action::Push),
            Need::Delete => Some(Action::Delete),
            Need::Public | Need::Login | Need::Catalog | Need::LogRead | Need::LogSubmit => None,
        }
    }
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

/// The access check of one route: built by [`crate::api::configure`] from the route
/// table's access column.
pub struct Guard {
    need: Need,
}

impl Guard {
    /// A guard letting through only requests that have `need`.
    pub fn new(need: Need) -> Guard {
        Guard { need }
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
            need: self.need,
        }))
    }
}

/// [`Guard`]'s per-worker service.
pub struct GuardService<S> {
    service: Rc<S>,
    need: Need,
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
        let need = self.need;
        Box::pin(async move { check(need, req, &*svc).await })
    }
}

/// The app-wide limit on the request line and headers (`limits.max_header_bytes`),
/// checked before routing and before any credentials (wrap the app with
/// `actix_web::middleware::from_fn(header_limit)`).
pub async fn header_limit<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let Some(max) = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.upload_sessions.max_header_bytes)
    else {
        let resp = ApiError::internal("the application state is missing").error_response();
        return Ok(req.into_response(resp).map_into_right_body());
    };
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + req.path().len()
        + req.query_string().len();
    if header_bytes > max {
        let resp = ApiError::new(Code::HeadersTooLarge)
            .msg(format!(
                "the request line and headers take {header_bytes} bytes; the limit is {max}"
            ))
            .error_response();
        return Ok(req.into_response(resp).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// `from` of a cross-repository mount (`?mount=<digest>&from=<source>`).
fn mount_source(query: &str) -> Option<String> {
    let q: Vec<(String, String)> =
        web::Query::from_query(query).map_or_else(|_| Vec::new(), |q| q.0);
    let has = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    has("mount").and(has("from"))
}

/// The guard's body: authenticate, decide `need` for the routed request, record, then
/// call `srv` or answer itself.
pub async fn check<S, B>(
    need: Need,
    mut req: ServiceRequest,
    srv: &S,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let Some(auth) = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.auth.clone())
    else {
        let resp = ApiError::internal("the application state is missing").error_response();
        return Ok(req.into_response(resp).map_into_right_body());
    };
    // The repository is the one the router matched for the handler.
    let repo = match need.action() {
        Some(action) => match req.match_info().get("name") {
            Some(name) => Some((name.to_owned(), action)),
            // A table row whose need names a repository its path lacks: refuse.
            None => {
                let resp = ApiError::internal(format!(
                    "route {:?} needs {} but has no repository",
                    req.match_pattern(),
                    need.as_str()
                ))
                .error_response();
                return Ok(req.into_response(resp).map_into_right_body());
            }
        },
        None => None,
    };
    if auth.mode() == Mode::None || need == Need::Public {
        req.extensions_mut().insert(Access {
            auth,
            principal: Principal::Anonymous,
        });
        return srv.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let mount_from = (need == Need::Upload)
        .then(|| mount_source(req.query_string()))
        .flatten();
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
    let repo_name = repo.as_ref().map(|(n, _)| n.as_str());
    let action = repo.as_ref().map(|(_, a)| *a);
    let action_name = action.map_or(need.as_str(), Action::as_str);
    let principal = match principal {
        Ok(p) => p,
        Err(failure) => {
            let reason = failure.reason();
            audit(
                "unauthenticated",
                repo_name,
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
                repo_name.zip(action),
            );
            return Ok(r.map_into_right_body());
        }
    };
    let who = principal.audit_name();
    let anonymous = principal == Principal::Anonymous;
    let login_required = || Decision::Challenge("authentication required".into());
    let decision = match need {
        Need::Public => Decision::Allow,
        Need::Login | Need::LogSubmit if anonymous => login_required(),
        Need::Login | Need::LogSubmit => Decision::Allow,
        Need::Catalog if anonymous && !auth.policy.any_anonymous() => login_required(),
        Need::Catalog => Decision::Allow,
        Need::LogRead if auth.cfg.log_public || !anonymous => Decision::Allow,
        Need::LogRead => Decision::Challenge("authentication required to read the log".into()),
        Need::Pull | Need::Push | Need::Upload | Need::Delete => match &repo {
            Some((name, action)) => auth.decide(&principal, name, *action),
            None => Decision::Deny("this route names no repository".into()),
        },
    };
    match decision {
        Decision::Allow => {
            audit(&who, repo_name, action_name, true, "allowed");
            if let Some(from) = &mount_from
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
            audit(&who, repo_name, action_name, false, &reason);
            let how = if matches!(principal, Principal::Token(_)) {
                Refusal::InsufficientScope
            } else {
                Refusal::Unauthenticated
            };
            let r = refuse(&auth, req, how, reason, repo_name.zip(action));
            Ok(r.map_into_right_body())
        }
        Decision::Deny(reason) => {
            audit(&who, repo_name, action_name, false, &reason);
            let r = refuse(&auth, req, Refusal::Denied, reason, repo_name.zip(action));
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
