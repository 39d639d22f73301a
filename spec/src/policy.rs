//! The trust policy: which keys may sign which repositories (spec/signing.md,
//! "The trust policy").
//!
//! A policy is a small TOML file the puller keeps (`$XDG_CONFIG_HOME/pqreg/policy.toml`).
//! It declares keys (by key ID and/or SPKI PEM, always with their algorithm) and rules
//! that map repository patterns to the keys allowed to sign them, whether log inclusion is
//! required (default: yes) and the weakest algorithm accepted. Parsing is strict: unknown
//! fields, duplicate keys or names, dangling references, bad patterns and a key ID that
//! does not match its PEM are refused.
//!
//! Patterns are written here rather than with a glob crate: the language is two
//! wildcards (`*` within one path component, `**` across components) over repository
//! names, small enough that a dependency would add more surface than it saves.

use serde::Deserialize;

use crate::Digest;
use crate::dsse::SigningError;
use crate::keys::{KeyId, SignatureAlgorithm};

/// The only policy format version.
pub const POLICY_VERSION: u32 = 1;
/// Largest policy file accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 1 << 20;
/// Longest repository pattern accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 256;
/// Most wildcards one pattern may hold (keeps matching linear-ish).
pub const MAX_PATTERN_WILDCARDS: usize = 4;

/// Why a policy was refused, or refused a signer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Not TOML of the policy's shape (syntax, unknown or duplicate keys, wrong types).
    #[error("trust policy is malformed: {0}")]
    Toml(String),
    /// Larger than [`MAX_POLICY_BYTES`].
    #[error("trust policy is {0} bytes, limit {MAX_POLICY_BYTES}")]
    TooLarge(usize),
    /// `version` is not [`POLICY_VERSION`].
    #[error("trust policy version {0} is not supported (expected {POLICY_VERSION})")]
    UnsupportedVersion(u32),
    /// An algorithm name is unknown.
    #[error("unknown signature algorithm {0:?}")]
    UnknownAlgorithm(String),
    /// A key has neither `id` nor `public_key`.
    #[error("key {0:?} has neither id nor public_key")]
    KeyWithoutId(String),
    /// A key ID is not `sha256:<64 hex>`.
    #[error("key id {0:?} is malformed")]
    BadKeyId(String),
    /// A `public_key` is not one PEM `PUBLIC KEY` block.
    #[error("public_key of key {0:?} is not a PEM PUBLIC KEY block")]
    BadPem(String),
    /// The declared `id` is not the SHA-256 of the PEM's DER.
    #[error("key id {declared} does not match its public_key ({computed})")]
    KeyIdMismatch {
        /// The `id` written in the policy.
        declared: KeyId,
        /// SHA-256 of the SPKI DER of `public_key`.
        computed: KeyId,
    },
    /// Two keys share an ID or a name.
    #[error("key {0:?} is declared twice")]
    DuplicateKey(String),
    /// A rule names a key that is not declared.
    #[error("rule refers to undeclared key {0:?}")]
    UnknownKeyReference(String),
    /// A rule has no repositories or no signers.
    #[error("rule {0} has no repositories or no signers")]
    EmptyRule(usize),
    /// A repository pattern is malformed.
    #[error("repository pattern {0:?} is malformed")]
    BadPattern(String),
    /// No rule covers the repository.
    #[error("no trust-policy rule covers repository {0:?}")]
    NoRuleForRepository(String),
    /// Rules cover the repository but none lists the signer's key.
    #[error("key {key_id} is not trusted to sign {repository:?}")]
    UntrustedSigner {
        /// The repository.
        repository: String,
        /// The signer's key.
        key_id: KeyId,
    },
    /// The signer is trusted but its algorithm is weaker than the policy's minimum.
    #[error("key {key_id} uses {alg}, weaker than the required {min}")]
    WeakAlgorithm {
        /// The signer's key.
        key_id: KeyId,
        /// Its algorithm's name.
        alg: &'static str,
        /// The minimum's name.
        min: &'static str,
    },
}

/// A key the policy declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyKey {
    /// Its name, if given (rules may refer to it).
    pub name: Option<String>,
    /// Its key ID (SHA-256 of the SPKI DER).
    pub id: KeyId,
    /// Its signature algorithm.
    pub alg: SignatureAlgorithm,
    /// The SPKI DER from `public_key`, if given.
    pub public_key_der: Option<Vec<u8>>,
}

/// One rule: repository patterns, the keys that may sign them, and requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Repository patterns (see [`repository_matches`]).
    pub repositories: Vec<String>,
    /// Indices into [`Policy::keys`] of the keys allowed to sign.
    pub signers: Vec<usize>,
    /// Whether log inclusion is required (`None`: the policy default).
    pub require_log: Option<bool>,
    /// The weakest algorithm accepted (`None`: the policy default).
    pub min_algorithm: Option<SignatureAlgorithm>,
}

/// A parsed, checked trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Default for rules without `require_log` (the file's default is `true`).
    pub require_log: bool,
    /// Default for rules without `min_algorithm`.
    pub min_algorithm: Option<SignatureAlgorithm>,
    /// The declared keys.
    pub keys: Vec<PolicyKey>,
    /// The rules.
    pub rules: Vec<Rule>,
}

/// The name spec/signing.md gives an algorithm (policy files, referrer annotations).
pub fn algorithm_name(alg: SignatureAlgorithm) -> &'static str {
    match alg {
        SignatureAlgorithm::MlDsa44 => "ml-dsa-44",
        SignatureAlgorithm::MlDsa65 => "ml-dsa-65",
        SignatureAlgorithm::MlDsa87 => "ml-dsa-87",
        SignatureAlgorithm::Ed25519 => "ed25519",
        SignatureAlgorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
        #[allow(unreachable_patterns)]
        _ => "unknown",
    }
}

/// The algorithm of a name from [`algorithm_name`].
pub fn parse_algorithm(name: &str) -> Option<SignatureAlgorithm> {
    Some(match name {
        "ml-dsa-44" => SignatureAlgorithm::MlDsa44,
        "ml-dsa-65" => SignatureAlgorithm::MlDsa65,
        "ml-dsa-87" => SignatureAlgorithm::MlDsa87,
        "ed25519" => SignatureAlgorithm::Ed25519,
        "ecdsa-p256-sha256" => SignatureAlgorithm::EcdsaP256Sha256,
        _ => return None,
    })
}

/// Strength order for `min_algorithm`: classical < ML-DSA-44 < ML-DSA-65 < ML-DSA-87
/// (the NIST security categories of FIPS 204; classical keys are category 0 against a
/// quantum adversary).
pub fn algorithm_strength(alg: SignatureAlgorithm) -> u8 {
    match alg {
        SignatureAlgorithm::MlDsa44 => 2,
        SignatureAlgorithm::MlDsa65 => 3,
        SignatureAlgorithm::MlDsa87 => 5,
        _ => 0,
    }
}

/// Whether `repository` (`host[:port]/path`) matches `pattern`: `*` matches any run of
/// characters within one `/`-separated component, `**` any run across components; every
/// other character matches itself.
pub fn repository_matches(pattern: &str, repository: &str) -> bool {
    glob(pattern.as_bytes(), repository.as_bytes())
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p {
        [] => s.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        [b'*', rest @ ..] => {
            for i in 0..=s.len() {
                if glob(rest, &s[i..]) {
                    return true;
                }
                if s.get(i) == Some(&b'/') {
                    break;
                }
            }
            false
        }
        [c, rest @ ..] => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

fn check_pattern(p: &str) -> Result<(), PolicyError> {
    let chars_ok = p
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/:*".contains(&b));
    let wildcards =
        p.split("**").map(|x| x.matches('*').count()).sum::<usize>() + p.matches("**").count();
    let ok = !p.is_empty()
        && p.len() <= MAX_PATTERN_BYTES
        && chars_ok
        && !p.contains("***")
        && !p.starts_with('/')
        && !p.contains("//")
        && wildcards <= MAX_PATTERN_WILDCARDS;
    if ok {
        Ok(())
    } else {
        Err(PolicyError::BadPattern(p.to_owned()))
    }
}

/// The DER inside one PEM `PUBLIC KEY` block.
pub fn pem_spki_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PUBLIC KEY-----")?
        .strip_suffix("-----END PUBLIC KEY-----")?;
    let b64: String = body.split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    (!der.is_empty()).then_some(der)
}

impl Policy {
    /// Parses and checks a policy file.
    pub fn from_toml(text: &str) -> Result<Self, SigningError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge(text.len()).into());
        }
        let w: WirePolicy = toml::from_str(text).map_err(|e| PolicyError::Toml(e.to_string()))?;
        Ok(Self::from_wire(w)?)
    }

    /// Checks that `key_id` may sign `repository`: [`PolicyError::NoRuleForRepository`]
    /// when no rule covers it, [`PolicyError::UntrustedSigner`] when rules cover it but
    /// none lists the key, [`PolicyError::WeakAlgorithm`] when the key is listed but below
    /// every listing rule's minimum.
    pub fn authorize(&self, repository: &str, key_id: &KeyId) -> Result<(), SigningError> {
        let mut covered = false;
        let mut weak = None;
        for rule in self.matching(repository) {
            covered = true;
            for &k in &rule.signers {
                let key = &self.keys[k];
                if key.id != *key_id {
                    continue;
                }
                match rule.min_algorithm.or(self.min_algorithm) {
                    Some(min) if algorithm_strength(key.alg) < algorithm_strength(min) => {
                        weak = Some(PolicyError::WeakAlgorithm {
                            key_id: *key_id,
                            alg: algorithm_name(key.alg),
                            min: algorithm_name(min),
                        });
                    }
                    _ => return Ok(()),
                }
            }
        }
        let err = match (covered, weak) {
            (false, _) => PolicyError::NoRuleForRepository(repository.to_owned()),
            (true, Some(w)) => w,
            (true, None) => PolicyError::UntrustedSigner {
                repository: repository.to_owned(),
                key_id: *key_id,
            },
        };
        Err(err.into())
    }

    /// Whether a signature for `repository` must come with a verified log inclusion proof:
    /// the strictest of the rules that cover it, or the policy default if none does.
    pub fn log_required(&self, repository: &str) -> bool {
        let mut any = false;
        for rule in self.matching(repository) {
            any = true;
            if rule.require_log.unwrap_or(self.require_log) {
                return true;
            }
        }
        !any && self.require_log
    }

    /// The keys some rule covering `repository` lists: the keys worth trying.
    pub fn keys_for(&self, repository: &str) -> Vec<&PolicyKey> {
        let mut idx: Vec<usize> = self
            .matching(repository)
            .flat_map(|r| r.signers.iter().copied())
            .collect();
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter().map(|i| &self.keys[i]).collect()
    }

    /// The declared key with this ID.
    pub fn key(&self, id: &KeyId) -> Option<&PolicyKey> {
        self.keys.iter().find(|k| k.id == *id)
    }

    fn matching<'a>(&'a self, repository: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| {
            r.repositories
                .iter()
                .any(|p| repository_matches(p, repository))
        })
    }

    fn from_wire(w: WirePolicy) -> Result<Self, PolicyError> {
        if w.version != POLICY_VERSION {
            return Err(PolicyError::UnsupportedVersion(w.version));
        }
        let alg =
            |s: &str| parse_algorithm(s).ok_or_else(|| PolicyError::UnknownAlgorithm(s.into()));
        let mut keys: Vec<PolicyKey> = Vec::with_capacity(w.keys.len());
        for k in w.keys {
            let label = k.name.clone().or(k.id.clone()).unwrap_or_default();
            let declared =
                k.id.as_deref()
                    .map(|s| {
                        s.parse::<Digest>()
                            .map(KeyId)
                            .map_err(|_| PolicyError::BadKeyId(s.to_owned()))
                    })
                    .transpose()?;
            let der = k
                .public_key
                .as_deref()
                .map(|p| pem_spki_der(p).ok_or_else(|| PolicyError::BadPem(label.clone())))
                .transpose()?;
            let computed = der.as_deref().map(|d| KeyId(Digest::sha256(d)));
            let id = match (declared, computed) {
                (Some(d), Some(c)) if d != c => {
                    return Err(PolicyError::KeyIdMismatch {
                        declared: d,
                        computed: c,
                    });
                }
                (Some(d), _) => d,
                (None, Some(c)) => c,
                (None, None) => return Err(PolicyError::KeyWithoutId(label)),
            };
            let dup = keys
                .iter()
                .any(|o| o.id == id || (k.name.is_some() && o.name.is_some() && o.name == k.name));
            if dup {
                return Err(PolicyError::DuplicateKey(label));
            }
            keys.push(PolicyKey {
                name: k.name,
                id,
                alg: alg(&k.alg)?,
                public_key_der: der,
            });
        }
        let mut rules = Vec::with_capacity(w.rules.len());
        for (i, r) in w.rules.into_iter().enumerate() {
            if r.repositories.is_empty() || r.signers.is_empty() {
                return Err(PolicyError::EmptyRule(i));
            }
            for p in &r.repositories {
                check_pattern(p)?;
            }
            let mut signers = Vec::with_capacity(r.signers.len());
            for s in &r.signers {
                let pos = keys
                    .iter()
                    .position(|k| k.name.as_deref() == Some(s) || k.id.to_string() == *s)
                    .ok_or_else(|| PolicyError::UnknownKeyReference(s.clone()))?;
                signers.push(pos);
            }
            rules.push(Rule {
                repositories: r.repositories,
                signers,
                require_log: r.require_log,
                min_algorithm: r.min_algorithm.as_deref().map(alg).transpose()?,
            });
        }
        Ok(Self {
            require_log: w.require_log.unwrap_or(true),
            min_algorithm: w.min_algorithm.as_deref().map(alg).transpose()?,
            keys,
            rules,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WirePolicy {
    version: u32,
    require_log: Option<bool>,
    min_algorithm: Option<String>,
    #[serde(default)]
    keys: Vec<WireKey>,
    #[serde(default)]
    rules: Vec<WireRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireKey {
    name: Option<String>,
    id: Option<String>,
    alg: String,
    public_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRule {
    repositories: Vec<String>,
    signers: Vec<String>,
    require_log: Option<bool>,
    min_algorithm: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            (
                "registry.example/models/*",
                "registry.example/models/llama",
                true,
            ),
            (
                "registry.example/models/*",
                "registry.example/models/a/b",
                false,
            ),
            (
                "registry.example/models/**",
                "registry.example/models/a/b",
                true,
            ),
            (
                "registry.example/models/*",
                "registry.example/models",
                false,
            ),
            ("registry.example/*/llama", "registry.example/x/llama", true),
            (
                "registry.example/models/llama",
                "registry.example/models/llama",
                true,
            ),
            (
                "registry.example/models/llama",
                "registry.example/models/llama2",
                false,
            ),
            ("*/models/*", "localhost:5000/models/x", true),
        ];
        for (p, r, want) in cases {
            assert_eq!(repository_matches(p, r), want, "{p} vs {r}");
        }
        for bad in ["", "/a", "a//b", "A/b", "a/***", "a b", "*/*/*/*/*"] {
            assert!(check_pattern(bad).is_err(), "{bad:?}");
        }
    }
}
