//! The digests the registry stores blobs under: SHA-256 (OCI's canonical algorithm and the
//! only one pqreg's own formats use) and SHA-512 (distribution-spec v1.1: registries SHOULD
//! accept it; the upstream conformance suite pushes and mounts blobs with it).
//!
//! Only the registry's blob, upload and mount paths know SHA-512. `pqreg_spec::Digest`
//! stays SHA-256 only, so no pqreg format (statements, log entries, indexes) can name a
//! SHA-512 digest; a [`BlobDigest`] converts from it, never back.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest::{Context, SHA512};
use pqreg_spec::Digest;
use pqreg_spec::digest::Hasher;

/// A blob's digest: SHA-256 or SHA-512.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobDigest {
    /// `sha256:<64 hex>`.
    Sha256(Digest),
    /// `sha512:<128 hex>`.
    Sha512([u8; 64]),
}

/// Why a digest string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadDigest(String);

impl BlobDigest {
    /// The algorithm's name as in the digest string (and the store's directory name).
    pub fn algorithm(&self) -> &'static str {
        match self {
            BlobDigest::Sha256(_) => "sha256",
            BlobDigest::Sha512(_) => "sha512",
        }
    }

    /// The encoded part, lowercase hex.
    pub fn hex(&self) -> String {
        match self {
            BlobDigest::Sha256(d) => d.hex(),
            BlobDigest::Sha512(b) => hex::encode(b),
        }
    }

    /// Parses `<hex>` under the algorithm named `alg` (as the store's directories name it).
    pub fn from_hex(alg: &str, encoded: &str) -> Result<Self, BadDigest> {
        match alg {
            "sha256" => Digest::from_hex(encoded)
                .map(BlobDigest::Sha256)
                .map_err(|e| BadDigest(e.to_string())),
            "sha512" => {
                let ok = encoded.len() == 128
                    && encoded
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                let mut out = [0u8; 64];
                if !ok || hex::decode_to_slice(encoded, &mut out).is_err() {
                    return Err(BadDigest(format!(
                        "sha512 digests are 128 lowercase hex characters, not {encoded:?}"
                    )));
                }
                Ok(BlobDigest::Sha512(out))
            }
            other => Err(BadDigest(format!(
                "unsupported digest algorithm {other:?}: use sha256 or sha512"
            ))),
        }
    }

    /// The names `bytes` can be stored under, one per algorithm: `[sha256, sha512]`. A
    /// manifest stored under both is one manifest (spec/api.md, Manifests), so its
    /// deletion looks up the other name with this.
    pub fn names_of(bytes: &[u8]) -> [BlobDigest; 2] {
        let mut h = BlobHasher::Sha512(Box::new(Context::new(&SHA512)));
        h.update(bytes);
        [BlobDigest::Sha256(Digest::sha256(bytes)), h.finalize()]
    }

    /// A hasher for this digest's algorithm.
    pub fn hasher(&self) -> BlobHasher {
        match self {
            BlobDigest::Sha256(_) => BlobHasher::Sha256(Hasher::new()),
            BlobDigest::Sha512(_) => BlobHasher::Sha512(Box::new(Context::new(&SHA512))),
        }
    }
}

impl From<Digest> for BlobDigest {
    fn from(d: Digest) -> Self {
        BlobDigest::Sha256(d)
    }
}

impl FromStr for BlobDigest {
    type Err = BadDigest;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("sha256", _)) => s
                .parse::<Digest>()
                .map(BlobDigest::Sha256)
                .map_err(|e| BadDigest(e.to_string())),
            Some((alg, encoded)) => BlobDigest::from_hex(alg, encoded),
            None => Err(BadDigest(format!("digest {s:?} has no algorithm prefix"))),
        }
    }
}

impl fmt::Display for BlobDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm(), self.hex())
    }
}

impl fmt::Debug for BlobDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A streaming hash for one [`BlobDigest`] algorithm.
#[derive(Clone)]
pub enum BlobHasher {
    /// SHA-256.
    Sha256(Hasher),
    /// SHA-512.
    Sha512(Box<Context>),
}

impl BlobHasher {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            BlobHasher::Sha256(h) => h.update(data),
            BlobHasher::Sha512(c) => c.update(data),
        }
    }

    /// The digest of everything fed.
    pub fn finalize(self) -> BlobDigest {
        match self {
            BlobHasher::Sha256(h) => BlobDigest::Sha256(h.finalize()),
            BlobHasher::Sha512(c) => {
                let mut out = [0u8; 64];
                out.copy_from_slice(c.finish().as_ref());
                BlobDigest::Sha512(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_print_and_hash() {
        // FIPS 180-2 "abc".
        let abc512 = "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
        let d: BlobDigest = abc512.parse().unwrap();
        assert_eq!(d.to_string(), abc512);
        let mut h = d.hasher();
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finalize(), d);
        let s: BlobDigest = Digest::sha256(b"abc").to_string().parse().unwrap();
        assert_eq!(s, BlobDigest::Sha256(Digest::sha256(b"abc")));
        for bad in [
            "sha512:abc",
            &abc512.to_uppercase(),
            "sha384:00",
            "md5:00",
            "nocolon",
            &abc512.replace("sha512", "sha256"),
        ] {
            assert!(bad.parse::<BlobDigest>().is_err(), "{bad}");
        }
        // Both names of one byte string.
        let [a, b] = BlobDigest::names_of(b"abc");
        assert_eq!(a, s);
        assert_eq!(b, d);
        // pqreg's own digest type still refuses sha512.
        assert!(abc512.parse::<Digest>().is_err());
    }
}
