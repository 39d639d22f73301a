//! HTTP access to a log: the tlog-tiles read API (`checkpoint`, `tile/...`), search
//! (spec/transparency-log.md §8.3) and signed submission (§8.5). Blocking, over a small
//! tokio runtime of its own, like [`crate::transfer::RegistryClient`]. Every body is read
//! with a size limit; nothing returned here is trusted (the caller verifies it).

use std::time::Duration;

use base64::Engine as _;
use pqreg_spec::logentry::NameKey;
use pqreg_spec::merkle::api::{B64Hash, SearchResponse};
use pqreg_spec::note::MAX_NOTE_BYTES;
use pqreg_spec::tile::{EntryBundleId, TileId};
use serde::{Deserialize, Serialize};

use super::LogError;
use crate::auth::Credential;

/// Largest tile: 256 hashes.
const MAX_TILE_BYTES: usize = 256 * 32;
/// Largest entry bundle: 256 entries of at most 1024 bytes, each with a 2-byte length.
const MAX_BUNDLE_BYTES: usize = 256 * (2 + pqreg_spec::logentry::MAX_ENTRY_BYTES);
/// Largest JSON answer (a search page of 1000 entries).
const MAX_JSON_BYTES: usize = 2 << 20;

/// The body of `POST <prefix>/v1/entries` (spec/transparency-log.md §8.5).
#[derive(Debug, Clone, Serialize)]
pub struct SubmitRequest {
    /// Repository, without the registry host.
    pub repository: String,
    /// Tag, if the push named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The model manifest digest.
    pub manifest: String,
    /// The DSSE envelope exactly as it goes into the bundle.
    #[serde(rename = "dsseEnvelope")]
    pub dsse_envelope: serde_json::Value,
    /// Standard base64 of the signer's SPKI DER.
    #[serde(rename = "publicKey")]
    pub public_key: String,
}

/// The answer to a submission: the entry, its inclusion proof and the checkpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitResponse {
    /// The entry's index.
    pub index: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// The entry's leaf hash.
    pub leaf_hash: B64Hash,
    /// The inclusion proof, leaf upwards.
    pub proof: Vec<B64Hash>,
    /// The signed checkpoint of `size`.
    pub checkpoint: String,
    /// The entry text as the log built it.
    pub entry: String,
}

/// A log reached over HTTP at `<base>` (e.g. `https://registry.example/log`).
pub struct LogClient {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
    cred: Option<(String, String)>,
}

impl std::fmt::Debug for LogClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl LogClient {
    /// The log of the registry at `host[:port]`: `<scheme>://<host>/log`, plain HTTP only
    /// for loopback hosts (as [`crate::transfer`]).
    pub fn for_registry(host: &str, cred: Option<Credential>) -> Result<Self, LogError> {
        let scheme = if crate::transfer::is_loopback(host) {
            "http"
        } else {
            "https"
        };
        Self::new(&format!("{scheme}://{host}/log"), cred)
    }

    /// A log at `base` (no trailing slash), e.g. a static mirror of the tiles.
    pub fn new(base: &str, cred: Option<Credential>) -> Result<Self, LogError> {
        let err = |message: String| LogError::Http {
            url: base.to_owned(),
            message,
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("pqreg/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| err(e.to_string()))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| err(e.to_string()))?;
        let cred = match cred {
            Some(Credential::Basic { username, password }) => Some((username, password)),
            _ => None,
        };
        Ok(LogClient {
            rt,
            http,
            base: base.trim_end_matches('/').to_owned(),
            cred,
        })
    }

    /// The URL prefix of the log.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(
        &self,
        path: &str,
        body: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<(u16, Vec<u8>), LogError> {
        self.request_url(format!("{}/{path}", self.base), body, limit)
    }

    fn request_url(
        &self,
        url: String,
        body: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<(u16, Vec<u8>), LogError> {
        let http_err = |message: String| LogError::Http {
            url: url.clone(),
            message,
        };
        self.rt.block_on(async {
            let mut req = match body {
                Some(b) => self
                    .http
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b),
                None => self.http.get(&url),
            };
            if let Some((u, p)) = &self.cred {
                req = req.basic_auth(u, Some(p));
            }
            let mut resp = req.send().await.map_err(|e| http_err(e.to_string()))?;
            let status = resp.status().as_u16();
            let mut buf = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| http_err(e.to_string()))? {
                if buf.len() + chunk.len() > limit {
                    return Err(LogError::BadResponse {
                        url: url.clone(),
                        message: format!("body exceeds {limit} bytes"),
                    });
                }
                buf.extend_from_slice(&chunk);
            }
            Ok((status, buf))
        })
    }

    fn get(&self, path: &str, limit: usize) -> Result<Vec<u8>, LogError> {
        let (status, body) = self.request(path, None, limit)?;
        if status != 200 {
            return Err(LogError::Http {
                url: format!("{}/{path}", self.base),
                message: format!("HTTP {status}: {}", snippet(&body)),
            });
        }
        Ok(body)
    }

    fn json<T: serde::de::DeserializeOwned>(&self, path: &str, body: &[u8]) -> Result<T, LogError> {
        serde_json::from_slice(body).map_err(|e| LogError::BadResponse {
            url: format!("{}/{path}", self.base),
            message: e.to_string(),
        })
    }

    /// `GET <prefix>/checkpoint`: the signed note, unverified.
    pub fn checkpoint(&self) -> Result<Vec<u8>, LogError> {
        self.get("checkpoint", MAX_NOTE_BYTES)
    }

    /// `GET <prefix>/v1/keys`: the log's verifier keys, one per line, unverified (the
    /// caller pins them only after a fingerprint check or a person's yes).
    pub fn keys(&self) -> Result<Vec<String>, LogError> {
        let body = self.get("v1/keys", 64 << 10)?;
        let text = String::from_utf8(body).map_err(|_| LogError::BadResponse {
            url: format!("{}/v1/keys", self.base),
            message: "not UTF-8".into(),
        })?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// `GET <prefix>/tile/<L>/<N>[.p/<W>]`, unverified.
    pub fn tile(&self, id: &TileId) -> Result<Vec<u8>, LogError> {
        self.get(&id.path(), MAX_TILE_BYTES)
    }

    /// `GET <prefix>/tile/entries/<N>[.p/<W>]`, unverified.
    pub fn entry_bundle(&self, id: &EntryBundleId) -> Result<Vec<u8>, LogError> {
        self.get(&id.path(), MAX_BUNDLE_BYTES)
    }

    /// `GET <prefix>/v1/search?<query>`: `query` pairs are already validated names and
    /// digests (no characters that need escaping).
    pub fn search(&self, query: &[(&str, String)]) -> Result<SearchResponse, LogError> {
        let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let path = format!("v1/search?{}", q.join("&"));
        let body = self.get(&path, MAX_JSON_BYTES)?;
        self.json(&path, &body)
    }

    /// The name key of `repository` (spec/transparency-log.md §3.2), from the registry
    /// whose log this is (`<registry>/v2/<repository>/_pqreg/log-name-key`, with this
    /// client's credentials): `None` when the registry has none (it names the repository
    /// in clear). Only a registry's own log (`<registry>/log`) can answer; not a mirror.
    pub fn name_key(&self, repository: &str) -> Result<Option<NameKey>, LogError> {
        let Some(root) = self.base.strip_suffix("/log") else {
            return Err(LogError::BadResponse {
                url: self.base.clone(),
                message: "the log entry names its repository by a keyed id, and only the \
                          registry (not a log mirror) hands out its name key"
                    .into(),
            });
        };
        pqreg_spec::logentry::check_repository(repository).map_err(|e| LogError::BadResponse {
            url: self.base.clone(),
            message: e.to_string(),
        })?;
        let url = format!("{root}/v2/{repository}/_pqreg/log-name-key");
        let (status, body) = self.request_url(url.clone(), None, 4096)?;
        if status == 404 {
            return Ok(None);
        }
        if status != 200 {
            return Err(LogError::Http {
                message: format!(
                    "HTTP {status} for the repository's log name key (pull access is needed): {}",
                    snippet(&body)
                ),
                url,
            });
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            repository: String,
            name_key: String,
        }
        let bad = |message: String| LogError::BadResponse {
            url: url.clone(),
            message,
        };
        let a: Answer = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
        if a.repository != repository {
            return Err(bad(format!("the key is for {:?}", a.repository)));
        }
        NameKey::parse(&a.name_key)
            .map(Some)
            .map_err(|e| bad(e.to_string()))
    }

    /// `POST <prefix>/v1/entries` with a signed submission.
    pub fn submit(&self, req: &SubmitRequest) -> Result<SubmitResponse, LogError> {
        let path = "v1/entries";
        let body = serde_json::to_vec(req).map_err(|e| LogError::BadResponse {
            url: format!("{}/{path}", self.base),
            message: e.to_string(),
        })?;
        let (status, resp) = self.request(path, Some(body), MAX_JSON_BYTES)?;
        if status != 200 {
            return Err(LogError::Http {
                url: format!("{}/{path}", self.base),
                message: format!(
                    "the log refused the entry: HTTP {status}: {}",
                    snippet(&resp)
                ),
            });
        }
        self.json(path, &resp)
    }
}

/// Standard base64 (what the log API and bundles use).
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(300)]);
    s.trim().to_owned()
}
