//! Content digests as OCI writes them: `sha256:<64 lowercase hex>`
//! (OCI image-spec `descriptor.md`, "Digests").
//!
//! Parsing is strict: the only algorithm is `sha256`, the encoded part is exactly 64
//! lowercase hexadecimal characters, and nothing may precede or follow it. A digest that
//! parses is therefore safe to use as a file name or a URL path segment.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// Why a digest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The string has no `algorithm:` prefix.
    #[error("digest {0:?} has no algorithm prefix (expected sha256:<64 hex>)")]
    MissingAlgorithm(String),
    /// The algorithm is well formed but not one pqreg accepts.
    #[error("digest algorithm {0:?} is not supported (only sha256)")]
    UnsupportedAlgorithm(String),
    /// The encoded part is not 64 lowercase hex characters.
    #[error("digest {0:?} is not sha256:<64 lowercase hex>")]
    BadEncoding(String),
    /// Content did not hash to the digest it was claimed to have.
    #[error("content digest mismatch: expected {expected}, computed {actual}")]
    Mismatch {
        /// The digest the content was supposed to have.
        expected: Digest,
        /// The digest it actually has.
        actual: Digest,
    },
}

/// A SHA-256 content digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The algorithm prefix, without the colon.
    pub const ALGORITHM: &'static str = "sha256";

    /// Hashes `data` in one call.
    pub fn sha256(data: &[u8]) -> Self {
        Digest(Sha256::digest(data).into())
    }

    /// Wraps raw SHA-256 output.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Digest(bytes)
    }

    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex characters, without the algorithm prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the encoded part alone (64 lowercase hex characters).
    pub fn from_hex(encoded: &str) -> Result<Self, DigestError> {
        let ok = encoded.len() == 64
            && encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(DigestError::BadEncoding(encoded.to_owned()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(encoded, &mut out)
            .map_err(|_| DigestError::BadEncoding(encoded.to_owned()))?;
        Ok(Digest(out))
    }

    /// Checks that `data` hashes to this digest.
    pub fn verify(&self, data: &[u8]) -> Result<(), DigestError> {
        let actual = Digest::sha256(data);
        if actual == *self {
            Ok(())
        } else {
            Err(DigestError::Mismatch {
                expected: *self,
                actual,
            })
        }
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((alg, encoded)) = s.split_once(':') else {
            return Err(DigestError::MissingAlgorithm(s.to_owned()));
        };
        if alg != Self::ALGORITHM {
            // OCI's grammar allows other algorithms (sha512, blake3); pqreg refuses them
            // rather than carrying digests it cannot check.
            return Err(DigestError::UnsupportedAlgorithm(alg.to_owned()));
        }
        Digest::from_hex(encoded).map_err(|_| DigestError::BadEncoding(s.to_owned()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", Self::ALGORITHM, self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Streaming SHA-256 that ends in a [`Digest`].
#[derive(Clone, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything fed so far.
    pub fn finalize(self) -> Digest {
        Digest(self.0.finalize().into())
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // FIPS 180-4 example "abc" (NIST CSRC, SHA256.pdf example values).
    const ABC: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn known_answer() {
        assert_eq!(Digest::sha256(b"abc").to_string(), ABC);
        let mut h = Hasher::new();
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finalize().to_string(), ABC);
    }

    #[test]
    fn round_trip_and_serde() {
        let d: Digest = ABC.parse().unwrap();
        assert_eq!(d.to_string(), ABC);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{ABC}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    }

    #[test]
    fn rejects_malformed() {
        let cases = [
            ("", DigestError::MissingAlgorithm(String::new())),
            ("ba7816bf", DigestError::MissingAlgorithm("ba7816bf".into())),
            (
                "sha512:ba7816bf",
                DigestError::UnsupportedAlgorithm("sha512".into()),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Digest>().unwrap_err(), want, "{input:?}");
        }
        let bad = [
            &ABC[..ABC.len() - 1],                   // short
            &format!("{ABC}0"),                      // long
            &ABC.replace('b', "B"),                  // uppercase
            &format!("{ABC}\n"),                     // trailing newline
            &ABC.replace("sha256:ba", "sha256:../"), // traversal
            "sha256:",                               // empty
        ];
        for input in bad {
            assert!(
                matches!(input.parse::<Digest>(), Err(DigestError::BadEncoding(_))),
                "{input:?} should be BadEncoding"
            );
        }
    }

    #[test]
    fn verify_detects_mismatch() {
        let d = Digest::sha256(b"abc");
        assert!(d.verify(b"abc").is_ok());
        assert!(matches!(
            d.verify(b"abd"),
            Err(DigestError::Mismatch { .. })
        ));
    }
}
