//! JSON bodies of the log's convenience endpoints (spec/transparency-log.md, "Endpoints").
//!
//! Hashes travel as standard base64 (RFC 4648 §4, padded), as in checkpoints, so a client
//! compares them with a checkpoint's root without converting. Unknown fields are refused:
//! these bodies are ours, and a field we do not know is a bug on one side.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Hash, MerkleError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A hash that serializes as standard base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct B64Hash(pub Hash);

impl B64Hash {
    /// Parses standard padded base64 of exactly 32 bytes.
    pub fn parse(s: &str) -> Result<Self, MerkleError> {
        let bytes = STANDARD.decode(s).map_err(|_| MerkleError::BadBase64)?;
        Ok(B64Hash(super::hash_from_slice(&bytes)?))
    }
}

impl std::fmt::Display for B64Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&STANDARD.encode(self.0))
    }
}

impl Serialize for B64Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for B64Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        B64Hash::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Body of `GET /log/v1/proof/inclusion?index=<i>&size=<n>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProofResponse {
    /// The leaf index asked for.
    pub index: u64,
    /// The tree size asked for.
    pub size: u64,
    /// The leaf hash of entry `index`.
    pub leaf_hash: B64Hash,
    /// The RFC 9162 inclusion proof, leaf upwards.
    pub proof: Vec<B64Hash>,
}

impl InclusionProofResponse {
    /// The proof as plain hashes.
    pub fn proof_hashes(&self) -> Vec<Hash> {
        self.proof.iter().map(|h| h.0).collect()
    }
}

/// Body of `GET /log/v1/proof/consistency?from=<m>&to=<n>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProofResponse {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size.
    pub to: u64,
    /// The RFC 9162 consistency proof.
    pub proof: Vec<B64Hash>,
}

impl ConsistencyProofResponse {
    /// The proof as plain hashes.
    pub fn proof_hashes(&self) -> Vec<Hash> {
        self.proof.iter().map(|h| h.0).collect()
    }
}

/// One entry in a search result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchHit {
    /// The entry's leaf index.
    pub index: u64,
    /// The entry's canonical encoding (spec/transparency-log.md, "Entries").
    pub entry: String,
}

/// Body of `GET /log/v1/search?...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchResponse {
    /// The tree size the search covered (entries with index below it).
    pub size: u64,
    /// Matching entries in ascending index order.
    pub entries: Vec<SearchHit>,
    /// If more matches exist: the `after` value to ask for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}
