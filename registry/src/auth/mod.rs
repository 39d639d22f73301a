//! Access control (spec/auth.md): who may pull, push and delete where, how callers prove
//! who they are (htpasswd Basic auth, Docker/OCI bearer tokens from the built-in issuer or
//! trusted external ones), and the audit log of every decision.
//!
//! Each route of the table ([`crate::api::ROUTES`]) names the access it needs
//! ([`middleware::Need`]); its guard ([`middleware::check`]) authenticates the request,
//! decides against [`policy::Policy`] and the token's grants, and answers
//! `401 UNAUTHORIZED` (with the challenge) or `403 DENIED` itself; handlers
//! that need more (the catalog's filter, the log submission's repository) read the
//! [`Access`] it leaves in the request's extensions.

pub mod audit;
pub mod htpasswd;
pub mod middleware;
pub mod policy;
pub mod tags;
pub mod throttle;
pub mod token;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use middleware::token_endpoint;

/// How callers authenticate (spec/auth.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Everyone may do everything (embedded default, for loopback).
    #[default]
    None,
    /// HTTP Basic with the htpasswd file.
    Basic,
    /// Docker/OCI bearer tokens.
    Token,
}

/// An action on a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Read manifests, blobs, tags, referrers.
    Pull,
    /// Upload blobs and manifests.
    Push,
    /// Delete manifests and blobs.
    Delete,
}

impl Action {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    /// Parses a wire name (`*` is not an action here).
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "pull" => Some(Action::Pull),
            "push" => Some(Action::Push),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }

    fn bit(self) -> u8 {
        match self {
            Action::Pull => 1,
            Action::Push => 2,
            Action::Delete => 4,
        }
    }
}

/// A set of actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Actions(u8);

impl Actions {
    /// No action.
    pub const NONE: Actions = Actions(0);

    /// Whether `a` is in the set.
    pub fn has(self, a: Action) -> bool {
        self.0 & a.bit() != 0
    }

    /// Adds `a`.
    pub fn add(&mut self, a: Action) {
        self.0 |= a.bit();
    }

    /// The intersection.
    pub fn and(self, o: Actions) -> Actions {
        Actions(self.0 & o.0)
    }

    /// The union.
    pub fn or(self, o: Actions) -> Actions {
        Actions(self.0 | o.0)
    }

    /// In wire order (pull, push, delete).
    pub fn list(self) -> Vec<Action> {
        [Action::Pull, Action::Push, Action::Delete]
            .into_iter()
            .filter(|a| self.has(*a))
            .collect()
    }
}

impl FromIterator<Action> for Actions {
    fn from_iter<I: IntoIterator<Item = Action>>(it: I) -> Self {
        let mut s = Actions::NONE;
        for a in it {
            s.add(a);
        }
        s
    }
}

/// The `[auth]` configuration section (spec/auth.md, spec/api.md "Configuration").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `none`, `basic` or `token`.
    pub mode: Mode,
    /// The htpasswd file (bcrypt hashes only).
    pub htpasswd: Option<PathBuf>,
    /// Allow password authentication on a non-loopback address without TLS.
    pub allow_insecure_basic: bool,
    /// Whether the log's read API needs no credentials.
    pub log_public: bool,
    /// Where the audit log goes (default `<data_dir>/audit.log`).
    pub audit_log: Option<PathBuf>,
    /// Named groups of users.
    pub groups: BTreeMap<String, Vec<String>>,
    /// Access rules.
    pub rules: Vec<RuleConfig>,
    /// Tag rules (`[[auth.tag_rules]]`, §3.1).
    pub tag_rules: Vec<tags::TagRuleConfig>,
    /// Bearer tokens.
    pub token: TokenConfig,
    /// Limits on failed authentications (`[auth.failures]`, §4.6).
    pub failures: throttle::FailureLimits,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: Mode::None,
            htpasswd: None,
            allow_insecure_basic: false,
            log_public: true,
            audit_log: None,
            groups: BTreeMap::new(),
            rules: Vec::new(),
            tag_rules: Vec::new(),
            token: TokenConfig::default(),
            failures: throttle::FailureLimits::default(),
        }
    }
}

/// One `[[auth.rules]]` entry.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleConfig {
    /// Glob patterns over repository names.
    pub repositories: Vec<String>,
    /// Users it applies to (`*`: every authenticated user).
    pub users: Vec<String>,
    /// Groups it applies to.
    pub groups: Vec<String>,
    /// Whether it applies to everyone, anonymous callers included (pull only).
    pub anonymous: bool,
    /// What it grants.
    pub actions: Vec<Action>,
}

/// `[auth.token]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    /// `iss` of tokens the built-in issuer signs.
    pub issuer: String,
    /// The service name (`aud` of tokens, `service` of challenges).
    pub service: String,
    /// The realm URL in challenges (default: `<scheme>://<host>/auth/token` of the request).
    pub realm: Option<String>,
    /// Lifetime of issued tokens, seconds (1..=3600).
    pub ttl_secs: u64,
    /// External issuers whose tokens are accepted.
    pub trusted_issuers: Vec<TrustedIssuer>,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            issuer: "pqreg-registry".into(),
            service: "pqreg-registry".into(),
            realm: None,
            ttl_secs: 300,
            trusted_issuers: Vec::new(),
        }
    }
}

/// An external token issuer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// Its `iss`.
    pub issuer: String,
    /// Its public key (SPKI PEM: Ed25519, P-256 or RSA ≥ 2048 bits).
    pub public_key: PathBuf,
}

impl AuthConfig {
    /// Checks what parses but makes no sense; `listen` is the registry's address and `tls`
    /// whether it serves TLS.
    pub fn validate(&self, listen: &str, tls: bool) -> Result<(), String> {
        if self.mode == Mode::Basic && self.htpasswd.is_none() {
            return Err("auth.mode = \"basic\" needs auth.htpasswd".into());
        }
        if self.mode == Mode::Token
            && self.htpasswd.is_none()
            && self.token.trusted_issuers.is_empty()
        {
            return Err(
                "auth.mode = \"token\" needs auth.htpasswd or auth.token.trusted_issuers".into(),
            );
        }
        if !(1..=3600).contains(&self.token.ttl_secs) {
            return Err("auth.token.ttl_secs must be between 1 and 3600".into());
        }
        let passwords = self.mode != Mode::None && self.htpasswd.is_some();
        let loopback = listen
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback());
        if passwords && !tls && !loopback && !self.allow_insecure_basic {
            return Err(format!(
                "password authentication on {listen} without TLS would send passwords in clear: \
                 configure [tls], listen on 127.0.0.1, or set auth.allow_insecure_basic = true"
            ));
        }
        tags::TagRules::new(&self.tag_rules, &self.groups)?;
        policy::Policy::new(self).map(|_| ())
    }
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// No credentials.
    Anonymous,
    /// A user authenticated by password.
    User(String),
    /// A bearer token's holder.
    Token(token::Grant),
}

impl Principal {
    /// How the audit log names it.
    pub fn audit_name(&self) -> String {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::User(u) => u.clone(),
            Principal::Token(g) => {
                format!(
                    "token:{}/{}",
                    g.issuer,
                    g.subject.as_deref().unwrap_or("anonymous")
                )
            }
        }
    }
}

impl Principal {
    /// The user name tag rules see: a password or certificate user, a token's subject.
    pub fn user_name(&self) -> Option<&str> {
        match self {
            Principal::Anonymous => None,
            Principal::User(u) => Some(u),
            Principal::Token(g) => g.subject.as_deref(),
        }
    }
}

/// What the middleware leaves in a request's extensions for handlers.
#[derive(Clone)]
pub struct Access {
    /// The access-control state.
    pub auth: Arc<Auth>,
    /// The caller.
    pub principal: Principal,
}

impl Access {
    /// The actions the caller has on `repo`.
    pub fn actions(&self, repo: &str) -> Actions {
        self.auth.actions(&self.principal, repo)
    }
}

/// The outcome of an authorization check.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Go on.
    Allow,
    /// `401` with the challenge: the caller must (re)authenticate or ask for a token with
    /// this scope.
    Challenge(String),
    /// `403 DENIED`.
    Deny(String),
}

/// Access-control state built from [`AuthConfig`].
pub struct Auth {
    /// The configuration.
    pub cfg: AuthConfig,
    policy: policy::Policy,
    passwords: Option<htpasswd::Htpasswd>,
    tokens: Option<token::Tokens>,
    /// The audit log.
    pub audit: audit::Audit,
    /// Failed-authentication counters.
    pub throttle: throttle::Throttle,
    /// Tag rules.
    pub tags: tags::TagRules,
}

impl Auth {
    /// Builds the state: reads the htpasswd file, loads or generates the token key under
    /// `data_dir/auth/`, opens the audit log.
    pub fn open(cfg: &AuthConfig, data_dir: &Path) -> anyhow::Result<Auth> {
        let policy = policy::Policy::new(cfg).map_err(anyhow::Error::msg)?;
        let tags = tags::TagRules::new(&cfg.tag_rules, &cfg.groups).map_err(anyhow::Error::msg)?;
        let passwords = match (&cfg.htpasswd, cfg.mode) {
            (Some(p), Mode::Basic | Mode::Token) => Some(htpasswd::Htpasswd::open(p)?),
            _ => None,
        };
        let tokens = match cfg.mode {
            Mode::Token => Some(token::Tokens::open(&cfg.token, &data_dir.join("auth"))?),
            _ => None,
        };
        let audit_path = cfg
            .audit_log
            .clone()
            .unwrap_or_else(|| data_dir.join("audit.log"));
        let audit = if cfg.mode == Mode::None {
            audit::Audit::disabled()
        } else {
            audit::Audit::open(&audit_path)?
        };
        Ok(Auth {
            cfg: cfg.clone(),
            policy,
            passwords,
            tokens,
            audit,
            throttle: throttle::Throttle::new(cfg.failures.clone()),
            tags,
        })
    }

    /// The mode in force.
    pub fn mode(&self) -> Mode {
        self.cfg.mode
    }

    /// The actions `p` has on `repo` (everything in mode `none`).
    pub fn actions(&self, p: &Principal, repo: &str) -> Actions {
        let all: Actions = [Action::Pull, Action::Push, Action::Delete]
            .into_iter()
            .collect();
        match (self.cfg.mode, p) {
            (Mode::None, _) => all,
            (_, Principal::Anonymous) => self.policy.allowed(None, repo),
            (_, Principal::User(u)) => self.policy.allowed(Some(u), repo),
            (_, Principal::Token(g)) => {
                let granted = g.actions(repo);
                // Tokens of the built-in issuer are intersected with today's policy, so a
                // right taken away is gone before the token expires.
                if self.is_builtin(g) {
                    granted.and(self.policy.allowed(g.subject.as_deref(), repo))
                } else {
                    granted
                }
            }
        }
    }

    fn is_builtin(&self, g: &token::Grant) -> bool {
        g.issuer == self.cfg.token.issuer
    }

    /// Decides whether `p` may do `action` on `repo` (spec/auth.md §5).
    pub fn decide(&self, p: &Principal, repo: &str, action: Action) -> Decision {
        if self.actions(p, repo).has(action) {
            return Decision::Allow;
        }
        let what = format!("{} on repository {repo}", action.as_str());
        match p {
            Principal::Anonymous => {
                Decision::Challenge(format!("authentication required for {what}"))
            }
            Principal::User(u) => Decision::Deny(format!("user {u} may not {what}")),
            Principal::Token(g) => {
                let asked = g.mentions(repo);
                let policy_would = self.is_builtin(g)
                    && self.policy.allowed(g.subject.as_deref(), repo).has(action);
                if !asked || policy_would {
                    Decision::Challenge(format!("the token does not grant {what}"))
                } else {
                    Decision::Deny(format!(
                        "{} may not {what}",
                        g.subject.as_deref().unwrap_or("anonymous")
                    ))
                }
            }
        }
    }

    /// Checks a Basic `user:password` pair (bcrypt: call off the async threads).
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        self.passwords
            .as_ref()
            .is_some_and(|h| h.verify(user, password))
    }

    /// Whether a Basic pair was verified within the last minute (no bcrypt).
    pub fn check_password_cached(&self, user: &str, password: &str) -> bool {
        self.passwords
            .as_ref()
            .is_some_and(|h| h.verify_cached(user, password))
    }

    /// Verifies a bearer token.
    pub fn check_token(&self, jwt: &str) -> Result<token::Grant, token::TokenError> {
        match &self.tokens {
            Some(t) => t.verify(jwt),
            None => Err(token::TokenError::Disabled),
        }
    }

    /// The token issuer, in mode `token`.
    pub fn tokens(&self) -> Option<&token::Tokens> {
        self.tokens.as_ref()
    }

    /// Whether the caller may list `repo` in the catalog.
    pub fn visible(&self, p: &Principal, repo: &str) -> bool {
        self.actions(p, repo).has(Action::Pull)
    }
}

#[cfg(test)]
mod tests;
