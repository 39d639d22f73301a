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
use crate::checkpoint::LogVerifier;
use crate::dsse::SigningError;
use crate::keys::{KeyId, SignatureAlgorithm, VerifyingKey};
use crate::note::{NoteError, SignatureType, VerifierKey};

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
    /// A `public_key` is not one PEM `PUBLIC KEY` block of a signature key.
    #[error("public_key of key {0:?} is not a PEM signature public key: {1}")]
    BadPem(String, crate::keys::KeyError),
    /// The declared `alg` is not the algorithm of the `public_key`.
    #[error("key {name:?} declares {declared} but its public_key is {actual}")]
    AlgorithmMismatch {
        /// The key's name or ID.
        name: String,
        /// The declared algorithm.
        declared: SignatureAlgorithm,
        /// The public key's algorithm.
        actual: SignatureAlgorithm,
    },
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
    /// A `[[logs]]` entry is malformed: a verifier key that does not parse, a log key not
    /// named with the origin, no ML-DSA-44 log key, a quorum above the witnesses.
    #[error("log {origin:?} in the trust policy: {reason}")]
    BadLog {
        /// The log's origin as written.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// A `max_age` is not a duration (`<n>s`, `<n>m`, `<n>h` or `<n>d`, n > 0).
    #[error("max_age {0:?} is not a duration like \"30d\", \"12h\", \"90m\" or \"3600s\"")]
    BadDuration(String),
    /// A `[[mirrors]]` entry is malformed (not a `host[:port]/path` prefix).
    #[error("mirror rule {0:?} is malformed: pull and signed must be host[:port]/path prefixes")]
    BadMirror(String),
    /// Two `[[logs]]` entries have the same origin.
    #[error("log {0:?} is declared twice")]
    DuplicateLog(String),
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
    /// The public key from `public_key`, if given (else the client finds it elsewhere).
    pub public_key: Option<VerifyingKey>,
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
    /// Seconds after which a tag's signature is stale (`None`: the policy default).
    pub max_age: Option<u64>,
}

/// A `[[mirrors]]` rule: models pulled from under `pull` may carry statements signed
/// for the same path under `signed` (spec/signing.md §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// Prefix (`host[:port]/path`) of the repositories pulled from.
    pub pull: String,
    /// Prefix of the repositories their statements may name instead.
    pub signed: String,
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
    /// The transparency logs the client trusts, with their keys (`[[logs]]`).
    pub logs: Vec<PolicyLog>,
    /// Default for rules without `max_age` (`None`: signatures never go stale).
    pub max_age: Option<u64>,
    /// Locations whose models may carry statements signed for another location.
    pub mirrors: Vec<Mirror>,
}

/// A transparency log the policy trusts (`[[logs]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLog {
    /// Origin, keys, witnesses and quorum.
    pub verifier: LogVerifier,
    /// Where to read the log's checkpoint and tiles (a mirror); `None`: the registry's
    /// `/log` prefix.
    pub url: Option<String>,
    /// The registries (`host[:port]`) whose entries this log vouches for (`registries`;
    /// default: the origin's first `/`-separated component, spec/signing.md §7.5).
    pub registries: Vec<String>,
}

impl PolicyLog {
    /// Whether this log vouches for entries of the registry `host[:port]`.
    pub fn vouches_for(&self, registry: &str) -> bool {
        self.registries.iter().any(|r| r == registry)
    }
}

/// The name spec/signing.md gives an algorithm (policy files, referrer annotations).
pub fn algorithm_name(alg: SignatureAlgorithm) -> &'static str {
    alg.name()
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
/// other character matches itself. Runs in O(|pattern| x |repository|) time (no
/// backtracking); patterns over [`MAX_PATTERN_BYTES`] and repositories over 4096 bytes
/// never match.
pub fn repository_matches(pattern: &str, repository: &str) -> bool {
    enum Tok {
        Lit(u8),
        Star,
        DoubleStar,
    }
    let s = repository.as_bytes();
    if pattern.len() > MAX_PATTERN_BYTES || s.len() > 4096 {
        return false;
    }
    let mut toks = Vec::with_capacity(pattern.len());
    let p = pattern.as_bytes();
    let mut i = 0;
    while i < p.len() {
        if p[i] == b'*' && p.get(i + 1) == Some(&b'*') {
            toks.push(Tok::DoubleStar);
            i += 2;
        } else {
            toks.push(if p[i] == b'*' {
                Tok::Star
            } else {
                Tok::Lit(p[i])
            });
            i += 1;
        }
    }
    // next[j]: tokens after the current one match s[j..].
    let n = s.len();
    let mut next = vec![false; n + 1];
    next[n] = true;
    for tok in toks.iter().rev() {
        let mut cur = vec![false; n + 1];
        for j in (0..=n).rev() {
            cur[j] = match tok {
                Tok::Lit(c) => j < n && s[j] == *c && next[j + 1],
                Tok::Star => next[j] || (j < n && s[j] != b'/' && cur[j + 1]),
                Tok::DoubleStar => next[j] || (j < n && cur[j + 1]),
            };
        }
        next = cur;
    }
    next[0]
}

/// Seconds of a `max_age` value: a positive decimal followed by `s`, `m`, `h` or `d`.
pub fn parse_duration(s: &str) -> Result<u64, PolicyError> {
    let bad = || PolicyError::BadDuration(s.to_owned());
    let split = s.len().checked_sub(1).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let canonical = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0');
    if !canonical {
        return Err(bad());
    }
    n.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(bad)
}

/// Whether `repository` is `prefix` or lies under it; the rest (`""` or `/…`).
fn strip_repo_prefix<'r>(repository: &'r str, prefix: &str) -> Option<&'r str> {
    let rest = repository.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

fn check_mirror_prefix(p: &str) -> bool {
    let chars_ok = p
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/:".contains(&b));
    chars_ok
        && p.len() <= MAX_PATTERN_BYTES
        && p.contains('/')
        && !p.starts_with('/')
        && !p.ends_with('/')
        && !p.contains("//")
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
                // Without an explicit minimum, any ML-DSA: a classical key needs a rule
                // (or default) whose `min_algorithm` names a classical algorithm.
                let min = rule
                    .min_algorithm
                    .or(self.min_algorithm)
                    .unwrap_or(SignatureAlgorithm::MlDsa44);
                if algorithm_strength(key.alg) >= algorithm_strength(min) {
                    return Ok(());
                }
                weak = Some(PolicyError::WeakAlgorithm {
                    key_id: *key_id,
                    alg: algorithm_name(key.alg),
                    min: algorithm_name(min),
                });
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

    /// Seconds after which a signature for a tag of `repository` is stale: the smallest
    /// `max_age` of the rules that cover it (each defaulting to the policy's), or the
    /// policy's when none does. `None`: never stale.
    pub fn max_age(&self, repository: &str) -> Option<u64> {
        let mut any = false;
        let mut min: Option<u64> = None;
        for rule in self.matching(repository) {
            any = true;
            if let Some(a) = rule.max_age.or(self.max_age) {
                min = Some(min.map_or(a, |m| m.min(a)));
            }
        }
        if any { min } else { self.max_age }
    }

    /// The repositories a statement pulled from `repository` may be bound to: that one,
    /// then the mirror rules' mappings of it (same path below the `signed` prefix).
    pub fn signed_repositories(&self, repository: &str) -> Vec<String> {
        let mut out = vec![repository.to_owned()];
        for m in &self.mirrors {
            if let Some(rest) = strip_repo_prefix(repository, &m.pull) {
                let mapped = format!("{}{rest}", m.signed);
                if !out.contains(&mapped) {
                    out.push(mapped);
                }
            }
        }
        out
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

    /// The public keys of [`Policy::keys_for`] that the policy itself carries, ready to
    /// pass to [`crate::dsse::Envelope::verify`].
    pub fn verifying_keys_for(&self, repository: &str) -> Vec<&VerifyingKey> {
        self.keys_for(repository)
            .into_iter()
            .filter_map(|k| k.public_key.as_ref())
            .collect()
    }

    /// The configured log whose checkpoints have this origin line.
    pub fn log(&self, origin: &str) -> Option<&PolicyLog> {
        self.logs.iter().find(|l| l.verifier.origin == origin)
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
        let alg = |s: &str| {
            SignatureAlgorithm::from_name(s).ok_or_else(|| PolicyError::UnknownAlgorithm(s.into()))
        };
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
            let declared_alg = alg(&k.alg)?;
            let public_key = k
                .public_key
                .as_deref()
                .map(|p| {
                    VerifyingKey::from_pem(p).map_err(|e| PolicyError::BadPem(label.clone(), e))
                })
                .transpose()?;
            if let Some(pk) = &public_key
                && pk.alg() != declared_alg
            {
                return Err(PolicyError::AlgorithmMismatch {
                    name: label,
                    declared: declared_alg,
                    actual: pk.alg(),
                });
            }
            let computed = public_key.as_ref().map(VerifyingKey::key_id);
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
                alg: declared_alg,
                public_key,
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
                max_age: r.max_age.as_deref().map(parse_duration).transpose()?,
            });
        }
        let mut logs: Vec<PolicyLog> = Vec::with_capacity(w.logs.len());
        for l in w.logs {
            let log = log_from_wire(l)?;
            if logs
                .iter()
                .any(|o| o.verifier.origin == log.verifier.origin)
            {
                return Err(PolicyError::DuplicateLog(log.verifier.origin));
            }
            logs.push(log);
        }
        let mut mirrors = Vec::with_capacity(w.mirrors.len());
        for m in w.mirrors {
            if !check_mirror_prefix(&m.pull) || !check_mirror_prefix(&m.signed) {
                return Err(PolicyError::BadMirror(format!(
                    "{} -> {}",
                    m.pull, m.signed
                )));
            }
            mirrors.push(Mirror {
                pull: m.pull,
                signed: m.signed,
            });
        }
        Ok(Self {
            require_log: w.require_log.unwrap_or(true),
            min_algorithm: w.min_algorithm.as_deref().map(alg).transpose()?,
            keys,
            rules,
            logs,
            max_age: w.max_age.as_deref().map(parse_duration).transpose()?,
            mirrors,
        })
    }
}

/// One `[[logs]]` table: the log's keys (named with the origin; an ML-DSA-44 one is
/// required, spec/transparency-log.md section 9), witnesses and quorum.
fn log_from_wire(l: WireLog) -> Result<PolicyLog, PolicyError> {
    let bad = |reason: String| PolicyError::BadLog {
        origin: l.origin.clone(),
        reason,
    };
    crate::note::check_key_name(&l.origin).map_err(|e| bad(e.to_string()))?;
    let parse = |s: &String| VerifierKey::parse(s).map_err(|e: NoteError| bad(e.to_string()));
    let log_keys = l.keys.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
    let witnesses = l
        .witnesses
        .iter()
        .map(parse)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(k) = log_keys.iter().find(|k| k.name() != l.origin) {
        return Err(bad(format!(
            "log key {:?} is not named with the origin",
            k.name()
        )));
    }
    if !log_keys
        .iter()
        .any(|k| k.signature_type() == SignatureType::CosignatureMlDsa44)
    {
        return Err(bad("no ML-DSA-44 log key".into()));
    }
    let quorum = l.quorum.unwrap_or(0);
    if quorum > witnesses.len() {
        return Err(bad(format!(
            "quorum {quorum} is more than the {} witnesses",
            witnesses.len()
        )));
    }
    if let Some(u) = &l.url {
        let ok = (u.starts_with("https://") || u.starts_with("http://"))
            && !u.chars().any(|c| c.is_whitespace() || c == '?' || c == '#');
        if !ok {
            return Err(bad(format!("url {u:?} is not an http(s) URL")));
        }
    }
    let registries = match l.registries {
        Some(r) if r.is_empty() => return Err(bad("registries is empty".into())),
        Some(r) => r,
        None => vec![l.origin.split('/').next().unwrap_or_default().to_owned()],
    };
    if let Some(r) = registries
        .iter()
        .find(|r| r.is_empty() || r.contains(['/', ' ']) || r.len() > MAX_PATTERN_BYTES)
    {
        return Err(bad(format!("registry {r:?} is not host[:port]")));
    }
    Ok(PolicyLog {
        registries,
        verifier: LogVerifier {
            origin: l.origin,
            log_keys,
            witnesses,
            witness_quorum: quorum,
        },
        url: l.url.map(|u| u.trim_end_matches('/').to_owned()),
    })
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
    #[serde(default)]
    logs: Vec<WireLog>,
    max_age: Option<String>,
    #[serde(default)]
    mirrors: Vec<WireMirror>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireMirror {
    pull: String,
    signed: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireLog {
    origin: String,
    keys: Vec<String>,
    #[serde(default)]
    witnesses: Vec<String>,
    quorum: Option<usize>,
    url: Option<String>,
    registries: Option<Vec<String>>,
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
    max_age: Option<String>,
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
        // No backtracking blow-up on hostile patterns.
        let hostile = format!("{}x", "*".repeat(200));
        assert!(!repository_matches(&hostile, &"a".repeat(4000)));
        assert!(repository_matches(&"**".repeat(100), &"a/".repeat(2000)));
        for bad in ["", "/a", "a//b", "A/b", "a/***", "a b", "*/*/*/*/*"] {
            assert!(check_pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d").unwrap(), 30 * 86_400);
        assert_eq!(parse_duration("12h").unwrap(), 12 * 3600);
        assert_eq!(parse_duration("90m").unwrap(), 5400);
        assert_eq!(parse_duration("1s").unwrap(), 1);
        for bad in [
            "",
            "d",
            "0d",
            "01d",
            "1w",
            "-1d",
            "1.5d",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mirror_mapping() {
        let p = Policy::from_toml(
            "version = 1\n[[mirrors]]\npull = \"mirror.example/cache\"\nsigned = \"registry.example/models\"\n",
        )
        .unwrap();
        assert_eq!(
            p.signed_repositories("mirror.example/cache/llama"),
            vec![
                "mirror.example/cache/llama",
                "registry.example/models/llama"
            ]
        );
        // Not under the prefix: only itself.
        assert_eq!(
            p.signed_repositories("mirror.example/cache2/llama"),
            vec!["mirror.example/cache2/llama"]
        );
    }
}
