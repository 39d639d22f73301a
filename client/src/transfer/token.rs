//! The registry's credentials flow (Docker/OCI token authentication), run here with
//! bounded reads, and its tokens handed to oci-client.
//!
//! oci-client fetches a bearer token by reading the token service's whole answer
//! (`text()`), and does so by itself whenever its token cache has no valid entry for
//! the repository and operation of a request. A hostile registry, or the token service it
//! names, answering with an endless body would take all of a client's memory (measured:
//! 1.9 GB in 3.7 s before a pull died under a 2 GiB limit). So pqreg runs the flow
//! itself, and oci-client never does:
//!
//! - `GET /v2/` once per client (its body is not read): no challenge means no
//!   credentials are ever sent by oci-client (its credential store stays empty, so it
//!   never looks for a token); a `Basic` challenge means the stored user name and
//!   password; a `Bearer realm=…` challenge means a token per repository and operation
//!   from the realm (`scope=repository:<name>:pull[,push]`, `service=`), whose answer is
//!   read up to [`MAX_TOKEN_ANSWER`] bytes.
//! - Before every oci-client request, [`Inner::authorize`] puts a valid token for that
//!   repository and operation into oci-client's token cache (a cached one while it has
//!   more than [`MARGIN`] seconds left). oci-client keeps a JWT until its `exp` claim
//!   and any other token for [`DEFAULT_TOKEN_EXPIRATION_SECS`] seconds; a token it would
//!   not keep (a JWT whose `exp` is past or whose payload does not parse) would make it
//!   fetch one itself, so such a token is refused here.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use oci_client::client::DEFAULT_TOKEN_EXPIRATION_SECS;
use oci_client::secrets::RegistryAuth;
use oci_client::token_cache::{RegistryToken, RegistryTokenType};
use oci_client::{Reference as OciReference, RegistryOperation};
use reqwest::header::{HeaderValue, WWW_AUTHENTICATE};

use super::Inner;
use super::bounded::{MAX_ERROR_BODY, error_message};
use super::error::{Failure, TransferError, classify_status};

/// The most bytes of a token service's answer.
pub(crate) const MAX_TOKEN_ANSWER: usize = 64 << 10;

/// Seconds of validity a cached token must have left to be handed out again.
const MARGIN: u64 = 10;

/// What the registry's `/v2/` asked for.
#[derive(Clone)]
enum Challenge {
    /// Nothing: requests go without credentials.
    None,
    /// `Basic`, or a challenge oci-client would not take for a bearer one.
    Basic,
    /// A bearer token from `realm`.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// What a request to the registry carries.
#[derive(Clone)]
pub(crate) enum Grant {
    /// No credentials.
    None,
    /// The stored user name and password.
    Basic(String, String),
    /// A bearer token.
    Bearer(String),
}

impl Grant {
    /// The `Authorization` header of our own requests.
    pub(crate) fn header(&self) -> Option<HeaderValue> {
        let text = match self {
            Grant::None => return None,
            Grant::Basic(u, p) => {
                use base64::Engine as _;
                let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                format!("Basic {b64}")
            }
            Grant::Bearer(t) => format!("Bearer {t}"),
        };
        let mut v = HeaderValue::from_str(&text).ok()?;
        v.set_sensitive(true);
        Some(v)
    }
}

/// The challenge and the tokens of one client, per repository and operation (with the
/// time, in seconds since the epoch, after which a token is fetched again).
#[derive(Default)]
pub(crate) struct Tokens(tokio::sync::Mutex<State>);

#[derive(Default)]
struct State {
    challenge: Option<Challenge>,
    granted: HashMap<(String, bool), (Grant, u64)>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Inner {
    /// The credentials for `op` on `image`'s repository, fetched (with bounded reads) if
    /// none is cached or `fresh`, and put into oci-client's token cache so that its next
    /// request carries them without fetching anything itself.
    pub(crate) async fn authorize(
        &self,
        image: &OciReference,
        op: RegistryOperation,
        fresh: bool,
        what: &str,
    ) -> Result<Grant, Failure> {
        let push = matches!(op, RegistryOperation::Push);
        let key = (image.repository().to_owned(), push);
        let mut state = self.tokens.0.lock().await;
        let cached = state
            .granted
            .get(&key)
            .filter(|(_, until)| !fresh && now() + MARGIN < *until)
            .map(|(g, _)| g.clone());
        let grant = match cached {
            Some(g) => g,
            None => {
                // Probed once: what the registry asks for does not change within a run,
                // and a registry that changed it could make oci-client look for a token
                // itself (see the module docs).
                if state.challenge.is_none() {
                    state.challenge = Some(self.challenge(what).await?);
                }
                let challenge = state.challenge.clone().unwrap_or(Challenge::None);
                let (grant, until) = self.grant(&challenge, image, push, what).await?;
                state.granted.insert(key, (grant.clone(), until));
                grant
            }
        };
        let token = match &grant {
            Grant::None => None,
            Grant::Basic(u, p) => Some(RegistryTokenType::Basic(u.clone(), p.clone())),
            Grant::Bearer(t) => Some(RegistryTokenType::Bearer(RegistryToken::Token {
                token: t.clone(),
            })),
        };
        if let Some(token) = token {
            self.oci.store_auth_if_needed(&self.host, &self.auth).await;
            self.oci.tokens.insert(image, op, token).await;
        }
        Ok(grant)
    }

    /// `GET /v2/` without credentials: what the registry asks for. The body is not read.
    async fn challenge(&self, what: &str) -> Result<Challenge, Failure> {
        let scheme = if self.plain_http { "http" } else { "https" };
        let url = format!("{scheme}://{}/v2/", self.host);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| Failure::Transient(format!("{what}: {e}")))?;
        let Some(h) = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(Challenge::None);
        };
        let (scheme, params) = crate::login_check::parse_challenge(h);
        let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        Ok(match (scheme.as_str(), param("realm")) {
            ("bearer", Some(realm)) => Challenge::Bearer {
                realm,
                service: param("service"),
            },
            _ => Challenge::Basic,
        })
    }

    /// What `challenge` gives for this repository: the grant and until when it is kept.
    async fn grant(
        &self,
        challenge: &Challenge,
        image: &OciReference,
        push: bool,
        what: &str,
    ) -> Result<(Grant, u64), Failure> {
        let (realm, service) = match (challenge, &self.auth) {
            (Challenge::None, _) | (Challenge::Basic, RegistryAuth::Anonymous) => {
                return Ok((Grant::None, u64::MAX));
            }
            (Challenge::Basic, RegistryAuth::Basic(u, p)) => {
                return Ok((Grant::Basic(u.clone(), p.clone()), u64::MAX));
            }
            (Challenge::Basic, RegistryAuth::Bearer(t)) => {
                return Ok((Grant::Bearer(t.clone()), u64::MAX));
            }
            (Challenge::Bearer { realm, service }, _) => (realm, service),
        };
        // Credentials go to the realm as they would to the registry: never over plain
        // HTTP when the registry itself is reached over HTTPS.
        if !realm_allowed(self.plain_http, realm) {
            return Err(Failure::Fatal(TransferError::BadResponse {
                op: what.to_owned(),
                message: format!(
                    "the registry's token service {realm} is not HTTPS; pqreg sends credentials to it only over HTTPS"
                ),
            }));
        }
        let scope = format!(
            "repository:{}:{}",
            image.repository(),
            if push { "pull,push" } else { "pull" }
        );
        let mut query = vec![("scope", scope.as_str())];
        if let Some(s) = service {
            query.push(("service", s.as_str()));
        }
        let mut req = self.http.get(realm).query(&query);
        match &self.auth {
            RegistryAuth::Basic(u, p) => req = req.basic_auth(u, Some(p)),
            RegistryAuth::Bearer(t) => req = req.bearer_auth(t),
            RegistryAuth::Anonymous => {}
        }
        let bad = |message: String| {
            Failure::Fatal(TransferError::BadResponse {
                op: what.to_owned(),
                message,
            })
        };
        let mut resp = req
            .send()
            .await
            .map_err(|e| Failure::Transient(format!("{what}: token service {realm}: {e}")))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = error_message(resp, MAX_ERROR_BODY).await;
            return Err(match classify_status(what, &self.host, status, body) {
                // The token service refusing is a refusal of the credentials.
                Failure::Fatal(TransferError::NotFound { op, message }) => {
                    Failure::Fatal(TransferError::Unauthorized {
                        op,
                        host: self.host.clone(),
                        message,
                    })
                }
                other => other,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| Failure::Transient(format!("{what}: token service {realm}: {e}")))?
        {
            if body.len() + chunk.len() > MAX_TOKEN_ANSWER {
                return Err(bad(format!(
                    "the token service's answer is over the limit of {MAX_TOKEN_ANSWER} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|e| bad(format!("the token service's answer is not valid JSON: {e}")))?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("the token service's answer holds no token".into()))?;
        if HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
            return Err(bad(
                "the token service's token cannot be sent in a header".into()
            ));
        }
        let until = kept_until(&token, now()).map_err(bad)?;
        Ok((Grant::Bearer(token), until))
    }
}

/// Until when oci-client keeps `token` in its cache (seconds since the epoch), by its
/// own rule: a JWT until its `exp` claim (at most a day), any other token for
/// [`DEFAULT_TOKEN_EXPIRATION_SECS`]. An error for a token it would not keep: a JWT whose
/// payload does not parse, or one that expires within [`MARGIN`] seconds.
fn kept_until(token: &str, now: u64) -> Result<u64, String> {
    let default = now + DEFAULT_TOKEN_EXPIRATION_SECS as u64;
    let parts: Vec<&str> = token.split('.').collect();
    let [_, payload, _] = parts.as_slice() else {
        return Ok(default);
    };
    #[derive(serde::Deserialize)]
    struct Claims {
        exp: Option<u64>,
    }
    use base64::Engine as _;
    let claims: Claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or("the token service's token looks like a JWT but its claims do not parse")?;
    let Some(exp) = claims.exp else {
        return Ok(default);
    };
    let exp = exp.min(now + 24 * 60 * 60);
    if exp <= now + MARGIN {
        return Err(format!(
            "the token service's token expires at {exp} (Unix time), and it is {now} here; check this machine's clock"
        ));
    }
    Ok(exp)
}

/// Whether credentials may go to the token service at `realm`: over HTTPS always, over
/// plain HTTP only when the registry itself is plain HTTP (loopback or configured insecure).
fn realm_allowed(registry_plain_http: bool, realm: &str) -> bool {
    registry_plain_http
        || realm
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        use base64::Engine as _;
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", e(r#"{"alg":"none"}"#), e(claims))
    }

    #[test]
    fn an_https_registry_sends_credentials_only_to_an_https_realm() {
        assert!(realm_allowed(false, "https://auth.example/token"));
        assert!(realm_allowed(false, "HTTPS://auth.example/token"));
        assert!(!realm_allowed(false, "http://auth.example/token"));
        assert!(!realm_allowed(false, "ftp://auth.example/token"));
        assert!(!realm_allowed(false, "/token"));
        assert!(realm_allowed(true, "http://127.0.0.1:5000/token"));
    }

    #[test]
    fn tokens_are_kept_as_oci_client_keeps_them() {
        let now = 1_000_000;
        assert_eq!(kept_until("opaque", now).unwrap(), now + 60);
        assert_eq!(kept_until(&jwt("{}"), now).unwrap(), now + 60);
        assert_eq!(
            kept_until(&jwt(&format!(r#"{{"exp":{}}}"#, now + 300)), now).unwrap(),
            now + 300
        );
        assert_eq!(
            kept_until(&jwt(r#"{"exp":99999999999}"#), now).unwrap(),
            now + 86_400
        );
        assert!(kept_until(&jwt(&format!(r#"{{"exp":{}}}"#, now + 5)), now).is_err());
        assert!(kept_until("a.%%%.c", now).is_err());
    }
}
