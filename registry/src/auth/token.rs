//! Bearer tokens (spec/auth.md §4.2–4.4): JWTs signed by the built-in issuer's Ed25519 key
//! or by a trusted external issuer, with the Docker token specification's `access` claim.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pqreg_spec::keys::{SignatureAlgorithm, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Action, Actions, TokenConfig};

/// Longest bearer token accepted.
pub const MAX_TOKEN_BYTES: usize = 8 << 10;
/// Clock skew allowed on `nbf` and `exp`.
pub const LEEWAY_SECS: u64 = 60;

/// Why a token was refused (the message names the failed check, never the token).
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum TokenError {
    /// Mode is not `token`.
    #[error("bearer tokens are not enabled on this registry")]
    Disabled,
    /// Not a compact JWS, or too long.
    #[error("the token is malformed")]
    Malformed,
    /// `alg` is not the one of any configured issuer key (including `none` and HMAC).
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    /// No configured issuer's key verifies it.
    #[error("the token's signature does not verify with any trusted issuer's key")]
    Signature,
    /// Past `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before `nbf`.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `aud` is not this registry's service.
    #[error("the token is for another service")]
    Audience,
    /// A claim is missing or has the wrong type.
    #[error("the token's claims are invalid")]
    Claims,
}

/// One `access` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessEntry {
    /// `repository` (others are ignored).
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository name.
    pub name: String,
    /// Granted actions.
    #[serde(default)]
    pub actions: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<serde_json::Value>,
    exp: u64,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    access: Vec<AccessEntry>,
}

/// What a verified token grants.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// `iss`.
    pub issuer: String,
    /// `sub` (`None`: anonymous).
    pub subject: Option<String>,
    /// `access`.
    pub access: Vec<AccessEntry>,
}

impl Grant {
    /// The actions granted on `repo`.
    pub fn actions(&self, repo: &str) -> Actions {
        self.access
            .iter()
            .filter(|e| e.kind == "repository" && e.name == repo)
            .flat_map(|e| e.actions.iter())
            .filter_map(|a| Action::parse(a))
            .collect()
    }

    /// Whether the token has an entry for `repo` at all (the client asked for it).
    pub fn mentions(&self, repo: &str) -> bool {
        self.access
            .iter()
            .any(|e| e.kind == "repository" && e.name == repo)
    }
}

struct Verifier {
    issuer: String,
    alg: Algorithm,
    key: DecodingKey,
}

/// The built-in issuer's key and the verifiers of every accepted issuer.
pub struct Tokens {
    cfg: TokenConfig,
    signing: EncodingKey,
    kid: String,
    public_pem: String,
    verifiers: Vec<Verifier>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads an external issuer's SPKI PEM and picks the one algorithm its key type allows.
fn external_verifier(issuer: &str, path: &Path) -> anyhow::Result<Verifier> {
    let text = std::fs::read(path)
        .with_context(|| format!("reading issuer {issuer}'s key {}", path.display()))?;
    let s = String::from_utf8_lossy(&text);
    if !s.contains("-----BEGIN PUBLIC KEY-----") {
        anyhow::bail!(
            "{}: expected an SPKI public key (-----BEGIN PUBLIC KEY-----)",
            path.display()
        );
    }
    type Parse = fn(&[u8]) -> jsonwebtoken::errors::Result<DecodingKey>;
    let attempts: [(Algorithm, Parse); 3] = [
        (Algorithm::EdDSA, DecodingKey::from_ed_pem),
        (Algorithm::ES256, DecodingKey::from_ec_pem),
        (Algorithm::RS256, DecodingKey::from_rsa_pem),
    ];
    for (alg, f) in attempts {
        if let Ok(key) = f(&text) {
            return Ok(Verifier {
                issuer: issuer.to_owned(),
                alg,
                key,
            });
        }
    }
    anyhow::bail!(
        "{}: not an Ed25519, P-256 or RSA public key",
        path.display()
    )
}

impl Tokens {
    /// Loads (or generates on first start) the built-in issuer's key in `dir` and the
    /// external issuers' keys.
    pub fn open(cfg: &TokenConfig, dir: &Path) -> anyhow::Result<Tokens> {
        let key_path = dir.join("token-ed25519.pem");
        // The key file is pqreg's own Ed25519 key format (spec/keys.md: PKCS#8 PEM).
        let key = match std::fs::read_to_string(&key_path) {
            Ok(text) => SigningKey::from_pem(&text)
                .with_context(|| format!("{}: not a private key file", key_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SigningKey::generate(SignatureAlgorithm::Ed25519)
                    .context("generating the token signing key")?;
                let pem = key.to_pem().context("encoding the token signing key")?;
                crate::storage::write_private_file(&key_path, pem.as_bytes())
                    .with_context(|| format!("writing {}", key_path.display()))?;
                key
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", key_path.display())),
        };
        if key.alg() != SignatureAlgorithm::Ed25519 {
            anyhow::bail!("{}: not an Ed25519 key", key_path.display());
        }
        let pkcs8 = key
            .to_pkcs8_der()
            .context("encoding the token signing key")?;
        let public = key.verifying_key();
        let kid = hex::encode(Sha256::digest(public.to_spki_der()));
        let public_pem = public.to_pem().context("encoding the token key")?;
        let mut verifiers = vec![Verifier {
            issuer: cfg.issuer.clone(),
            alg: Algorithm::EdDSA,
            key: DecodingKey::from_ed_der(public.as_bytes()),
        }];
        for t in &cfg.trusted_issuers {
            if t.issuer == cfg.issuer {
                anyhow::bail!(
                    "trusted issuer {:?} has the built-in issuer's name",
                    t.issuer
                );
            }
            verifiers.push(external_verifier(&t.issuer, &t.public_key)?);
        }
        Ok(Tokens {
            cfg: cfg.clone(),
            signing: EncodingKey::from_ed_der(&pkcs8),
            kid,
            public_pem,
            verifiers,
        })
    }

    /// The built-in issuer's public key as SPKI PEM (for external verifiers).
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    /// The built-in key's ID (hex SHA-256 of its SPKI DER), the tokens' `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.cfg.service
    }

    /// Token lifetime in seconds.
    pub fn ttl(&self) -> u64 {
        self.cfg.ttl_secs
    }

    /// Signs a token for `subject` with `access`; returns it and its issue time.
    pub fn issue(
        &self,
        subject: Option<&str>,
        access: Vec<AccessEntry>,
    ) -> anyhow::Result<(String, u64)> {
        let iat = now();
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| anyhow::anyhow!("random jti"))?;
        let claims = Claims {
            iss: self.cfg.issuer.clone(),
            sub: subject.map(str::to_owned),
            aud: Some(serde_json::Value::String(self.cfg.service.clone())),
            exp: iat + self.cfg.ttl_secs,
            nbf: Some(iat),
            iat: Some(iat),
            jti: Some(hex::encode(jti)),
            access,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let t =
            jsonwebtoken::encode(&header, &claims, &self.signing).context("signing the token")?;
        Ok((t, iat))
    }

    /// Verifies `jwt` (spec/auth.md §4.4).
    pub fn verify(&self, jwt: &str) -> Result<Grant, TokenError> {
        if jwt.len() > MAX_TOKEN_BYTES || jwt.split('.').count() != 3 {
            return Err(TokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(jwt).map_err(|_| TokenError::Malformed)?;
        let mut last = TokenError::Algorithm;
        for v in self.verifiers.iter().filter(|v| v.alg == header.alg) {
            let mut val = Validation::new(v.alg);
            val.set_audience(&[&self.cfg.service]);
            val.set_issuer(&[&v.issuer]);
            val.leeway = LEEWAY_SECS;
            val.validate_nbf = true;
            val.set_required_spec_claims(&["exp", "iss", "aud"]);
            match jsonwebtoken::decode::<Claims>(jwt, &v.key, &val) {
                Ok(d) => {
                    return Ok(Grant {
                        issuer: d.claims.iss,
                        subject: d.claims.sub,
                        access: d.claims.access,
                    });
                }
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind as K;
                    last = match e.kind() {
                        K::InvalidSignature | K::InvalidIssuer => TokenError::Signature,
                        K::ExpiredSignature => return Err(TokenError::Expired),
                        K::ImmatureSignature => return Err(TokenError::NotYetValid),
                        K::InvalidAudience => return Err(TokenError::Audience),
                        K::MissingRequiredClaim(_) | K::Json(_) => return Err(TokenError::Claims),
                        _ => TokenError::Malformed,
                    };
                }
            }
        }
        Err(last)
    }
}
