//! The safetensors header, read as spec/artifact.md §6 needs it (the format of
//! huggingface/safetensors, `README.md`, "Format"): an 8-byte little-endian header length
//! `N`, `N` bytes of JSON, then the tensor data. Only the header is read, never the tensors.
//!
//! The JSON is an object: `__metadata__` (optional) maps strings to strings; every other
//! key is a tensor `{"dtype", "shape", "data_offsets": [begin, end]}` with offsets
//! relative to the first data byte.
//!
//! Strict, so that a malformed file cannot steer the planner: `N` is at most
//! [`MAX_HEADER_LEN`] and inside the file; the JSON starts with `{`, may be padded with
//! trailing spaces, and has no duplicate keys and no unknown fields; each tensor's byte
//! length is its dtype's size times the product of its shape (no overflow) and ends inside
//! the file; no two tensors overlap. Bytes that no tensor covers (before the first tensor,
//! between two, after the last) are padding: allowed, and kept by the chunking rule
//! (spec/artifact.md §6). The reference implementation (safetensors 0.8.0) refuses such
//! padding and accepts leading whitespace and unknown tensor fields; files it writes have
//! neither. `testdata/safetensors_header_cases.json` holds the cases with both outcomes.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};

use crate::compress::Layout;

/// Largest header accepted, in bytes: the reference implementation's limit, and the one
/// limit on any model-file header pqreg plans (GGUF's too, [`super::gguf`]).
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// Why a safetensors header was refused (the file is then chunked as an other file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SafetensorsError {
    /// The file is shorter than the 8-byte length prefix.
    #[error("file is {0} bytes, shorter than the 8-byte header length")]
    TooShort(u64),
    /// The header length exceeds [`MAX_HEADER_LEN`].
    #[error("header length {0} exceeds the 100 MB limit")]
    HeaderTooLarge(u64),
    /// The header runs past the end of the file.
    #[error("header length {header_len} runs past the end of a {file_len}-byte file")]
    HeaderPastEnd {
        /// `N` from the prefix.
        header_len: u64,
        /// The file's length.
        file_len: u64,
    },
    /// Fewer header bytes were given than the prefix announces.
    #[error("{got} header bytes given, the prefix announces {need}")]
    Incomplete {
        /// `8 + N`.
        need: u64,
        /// Bytes given.
        got: u64,
    },
    /// The header does not start with `{`.
    #[error("header does not start with '{{'")]
    BadStart,
    /// The header is not valid JSON of the expected shape.
    #[error("header is not valid safetensors JSON: {0}")]
    BadJson(String),
    /// A key appears twice in the header.
    #[error("header has duplicate key {0:?}")]
    DuplicateKey(String),
    /// `__metadata__` is not an object of strings.
    #[error("__metadata__ must map strings to strings")]
    BadMetadata,
    /// A tensor entry is malformed (missing or unknown fields, wrong types).
    #[error("tensor {name:?}: {reason}")]
    BadTensor {
        /// The tensor.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor's dtype is not in [`Dtype`]'s table.
    #[error("tensor {name:?} has unsupported dtype {dtype:?}")]
    UnknownDtype {
        /// The tensor.
        name: String,
        /// The dtype string.
        dtype: String,
    },
    /// The product of a tensor's shape times its dtype size overflows.
    #[error("tensor {0:?}: shape too large")]
    ShapeOverflow(String),
    /// A tensor's offsets are reversed.
    #[error("tensor {0:?}: data_offsets begin after end")]
    ReversedOffsets(String),
    /// A tensor's byte length does not match dtype size times shape.
    #[error("tensor {name:?}: {actual} bytes, but dtype and shape need {expected}")]
    LengthMismatch {
        /// The tensor.
        name: String,
        /// From dtype and shape.
        expected: u64,
        /// From `data_offsets`.
        actual: u64,
    },
    /// A tensor begins before the previous one (in offset order) ended.
    #[error(
        "tensor {name:?} begins at {begin}, inside the previous tensor (ends at {previous_end})"
    )]
    Overlap {
        /// The tensor.
        name: String,
        /// Its begin offset.
        begin: u64,
        /// Where the previous tensor ended.
        previous_end: u64,
    },
    /// A tensor ends after the end of the file.
    #[error("tensor {name:?} ends at data offset {end}, past the {data_len} data bytes")]
    PastEnd {
        /// The tensor.
        name: String,
        /// Its end offset.
        end: u64,
        /// Bytes after the header.
        data_len: u64,
    },
}

/// Tensor element types (safetensors `Dtype`), the byte-sized ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Dtype {
    /// `BOOL`
    Bool,
    /// `U8`
    U8,
    /// `I8`
    I8,
    /// `F8_E4M3`
    F8E4M3,
    /// `F8_E5M2`
    F8E5M2,
    /// `F8_E8M0`
    F8E8M0,
    /// `I16`
    I16,
    /// `U16`
    U16,
    /// `F16`
    F16,
    /// `BF16`
    BF16,
    /// `I32`
    I32,
    /// `U32`
    U32,
    /// `F32`
    F32,
    /// `I64`
    I64,
    /// `U64`
    U64,
    /// `F64`
    F64,
}

/// The one dtype table: spelling, bytes per element, compression layout (spec/artifact.md
/// §6 and §8: `BF16`, `F16`, `F32` have their own, every other dtype is `bytes`).
const DTYPES: [(Dtype, &str, u64, Layout); 16] = [
    (Dtype::Bool, "BOOL", 1, Layout::Bytes),
    (Dtype::U8, "U8", 1, Layout::Bytes),
    (Dtype::I8, "I8", 1, Layout::Bytes),
    (Dtype::F8E4M3, "F8_E4M3", 1, Layout::Bytes),
    (Dtype::F8E5M2, "F8_E5M2", 1, Layout::Bytes),
    (Dtype::F8E8M0, "F8_E8M0", 1, Layout::Bytes),
    (Dtype::I16, "I16", 2, Layout::Bytes),
    (Dtype::U16, "U16", 2, Layout::Bytes),
    (Dtype::F16, "F16", 2, Layout::Fp16),
    (Dtype::BF16, "BF16", 2, Layout::Bf16),
    (Dtype::I32, "I32", 4, Layout::Bytes),
    (Dtype::U32, "U32", 4, Layout::Bytes),
    (Dtype::F32, "F32", 4, Layout::Fp32),
    (Dtype::I64, "I64", 8, Layout::Bytes),
    (Dtype::U64, "U64", 8, Layout::Bytes),
    (Dtype::F64, "F64", 8, Layout::Bytes),
];

impl Dtype {
    fn row(self) -> (Dtype, &'static str, u64, Layout) {
        DTYPES
            .iter()
            .copied()
            .find(|r| r.0 == self)
            .unwrap_or((self, "?", 1, Layout::Bytes))
    }

    /// Parses the safetensors spelling (`"BF16"`).
    pub fn parse(s: &str) -> Option<Dtype> {
        DTYPES.iter().find(|r| r.1 == s).map(|r| r.0)
    }

    /// The safetensors spelling.
    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// Bytes per element.
    pub fn size(self) -> u64 {
        self.row().2
    }

    /// The byte-plane layout its tensors compress with.
    pub fn layout(self) -> Layout {
        self.row().3
    }
}

/// One tensor of the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name (the JSON key).
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// First byte, relative to the start of the data.
    pub begin: u64,
    /// One past the last byte, relative to the start of the data.
    pub end: u64,
}

impl TensorInfo {
    /// Byte length.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.begin)
    }

    /// Whether the tensor has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A checked safetensors header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `N`: the JSON's length in bytes (with padding).
    pub header_len: u64,
    /// The file's total length.
    pub file_len: u64,
    /// `__metadata__`.
    pub metadata: BTreeMap<String, String>,
    /// The tensors, in offset order (ties by end offset, then name).
    pub tensors: Vec<TensorInfo>,
}

/// `N` from the first 8 bytes of a `file_len`-byte file, checked against the limit and the
/// file length.
pub fn header_len(prefix: &[u8], file_len: u64) -> Result<u64, SafetensorsError> {
    if file_len < 8 {
        return Err(SafetensorsError::TooShort(file_len));
    }
    let Some(le) = prefix.first_chunk::<8>() else {
        return Err(SafetensorsError::Incomplete {
            need: 8,
            got: prefix.len() as u64,
        });
    };
    let n = u64::from_le_bytes(*le);
    if n > MAX_HEADER_LEN {
        return Err(SafetensorsError::HeaderTooLarge(n));
    }
    if 8 + n > file_len {
        return Err(SafetensorsError::HeaderPastEnd {
            header_len: n,
            file_len,
        });
    }
    Ok(n)
}

impl Header {
    /// File offset of the first data byte (`8 + N`).
    pub fn data_start(&self) -> u64 {
        8 + self.header_len
    }

    /// Checks a header given the file's first bytes (at least `8 + N` of them; more are
    /// ignored) and its total length.
    pub fn parse(prefix: &[u8], file_len: u64) -> Result<Header, SafetensorsError> {
        let n = header_len(prefix, file_len)?;
        let json = usize::try_from(8 + n)
            .ok()
            .and_then(|end| prefix.get(8..end))
            .ok_or(SafetensorsError::Incomplete {
                need: 8 + n,
                got: prefix.len() as u64,
            })?;
        parse_json(json, n, file_len)
    }
}

/// Builds the header (length prefix, JSON, space padding to a multiple of 8) of a
/// safetensors file whose tensors are laid out in the order given, each `gap` bytes after
/// the previous one's end (the first `gap` bytes after the data start). The tensor bytes
/// follow it in that order. For fixtures, tests and benchmarks.
pub fn build_header_with_gaps(
    metadata: &BTreeMap<String, String>,
    tensors: &[(&str, Dtype, &[u64])],
    gap: u64,
) -> Vec<u8> {
    let mut obj = serde_json::Map::new();
    if !metadata.is_empty() {
        let m = metadata
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        obj.insert("__metadata__".into(), serde_json::Value::Object(m));
    }
    let mut offset = 0u64;
    for (name, dtype, shape) in tensors {
        offset += gap;
        let len = shape.iter().product::<u64>() * dtype.size();
        obj.insert(
            (*name).to_owned(),
            serde_json::json!({"dtype": dtype.name(), "shape": shape, "data_offsets": [offset, offset + len]}),
        );
        offset += len;
    }
    let mut json = serde_json::Value::Object(obj).to_string().into_bytes();
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&json);
    out
}

/// [`build_header_with_gaps`] without gaps: the tensors tile the data.
pub fn build_header(
    metadata: &BTreeMap<String, String>,
    tensors: &[(&str, Dtype, &[u64])],
) -> Vec<u8> {
    build_header_with_gaps(metadata, tensors, 0)
}

/// The header's top-level object as ordered entries, refusing duplicate keys (serde_json's
/// map would silently keep the last one).
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Entries, A::Error> {
                let mut seen = HashSet::new();
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, serde_json::Value>()? {
                    if !seen.insert(k.clone()) {
                        return Err(serde::de::Error::custom(format!("\u{0}dup:{k}")));
                    }
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

fn parse_json(json: &[u8], header_len: u64, file_len: u64) -> Result<Header, SafetensorsError> {
    if json.first() != Some(&b'{') {
        return Err(SafetensorsError::BadStart);
    }
    let entries: Entries = serde_json::from_slice(json).map_err(|e| {
        let msg = e.to_string();
        match msg.strip_prefix("\u{0}dup:") {
            Some(rest) => SafetensorsError::DuplicateKey(
                rest.rsplit_once(" at line")
                    .map_or(rest, |(k, _)| k)
                    .to_owned(),
            ),
            None => SafetensorsError::BadJson(msg),
        }
    })?;
    let data_len = file_len - 8 - header_len;
    let mut metadata = BTreeMap::new();
    let mut tensors = Vec::with_capacity(entries.0.len());
    for (name, value) in entries.0 {
        if name == "__metadata__" {
            let serde_json::Value::Object(m) = value else {
                return Err(SafetensorsError::BadMetadata);
            };
            for (k, v) in m {
                let serde_json::Value::String(v) = v else {
                    return Err(SafetensorsError::BadMetadata);
                };
                metadata.insert(k, v);
            }
            continue;
        }
        let raw: RawTensor =
            serde_json::from_value(value).map_err(|e| SafetensorsError::BadTensor {
                name: name.clone(),
                reason: e.to_string(),
            })?;
        let Some(dtype) = Dtype::parse(&raw.dtype) else {
            return Err(SafetensorsError::UnknownDtype {
                name,
                dtype: raw.dtype,
            });
        };
        let expected = raw
            .shape
            .iter()
            .try_fold(dtype.size(), |acc, d| acc.checked_mul(*d))
            .ok_or_else(|| SafetensorsError::ShapeOverflow(name.clone()))?;
        let [begin, end] = raw.data_offsets;
        if begin > end {
            return Err(SafetensorsError::ReversedOffsets(name));
        }
        if end - begin != expected {
            return Err(SafetensorsError::LengthMismatch {
                name,
                expected,
                actual: end - begin,
            });
        }
        if end > data_len {
            return Err(SafetensorsError::PastEnd {
                name,
                end,
                data_len,
            });
        }
        tensors.push(TensorInfo {
            name,
            dtype,
            shape: raw.shape,
            begin,
            end,
        });
    }
    tensors.sort_by(|a, b| (a.begin, a.end, &a.name).cmp(&(b.begin, b.end, &b.name)));
    let mut previous_end = 0u64;
    for t in &tensors {
        if t.begin < previous_end {
            return Err(SafetensorsError::Overlap {
                name: t.name.clone(),
                begin: t.begin,
                previous_end,
            });
        }
        previous_end = t.end;
    }
    Ok(Header {
        header_len,
        file_len,
        metadata,
        tensors,
    })
}

#[cfg(test)]
#[path = "safetensors_tests.rs"]
mod tests;
