//! A strict reader of safetensors headers (the format of huggingface/safetensors,
//! `README.md`, "Format"): an 8-byte little-endian header length `N`, `N` bytes of JSON,
//! then the tensor data.
//!
//! The JSON is an object: `__metadata__` (optional) maps strings to strings; every other
//! key is a tensor `{"dtype", "shape", "data_offsets": [begin, end]}` with offsets
//! relative to the first data byte. Only the header is read, never the tensors.
//!
//! Strict, so that a malformed file cannot steer the planner: the header length is at
//! most [`MAX_HEADER_LEN`] and inside the file; the JSON starts with `{`, may be padded
//! with trailing spaces, and has no duplicate keys and no unknown fields; each tensor's
//! byte length equals its dtype's size times the product of its shape (no overflow);
//! sorted by offset, the tensors tile the data exactly — the first begins at 0, each
//! begins where the previous ended (no gap, no overlap), the last ends at the end of the
//! file.
//!
//! Stricter than the reference implementation (safetensors 0.8.0, Python), which accepts
//! leading whitespace before `{` and unknown fields in a tensor entry; files it writes
//! have neither. `testdata/safetensors_header_cases.json` holds the cases, run here and,
//! by `testdata/safetensors_check.py`, through the Python package (its outcome recorded
//! per case).

use std::collections::BTreeMap;
use std::collections::HashSet;
use std::io::Read;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};

/// Largest header accepted, in bytes (the reference implementation's limit).
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// Why a safetensors header was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SafetensorsError {
    /// Reading the file failed.
    #[error("reading the safetensors header: {0}")]
    Io(#[from] std::io::Error),
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
    /// A tensor's dtype is not one this reader knows.
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
    /// A tensor does not begin where the previous one (in offset order) ended.
    #[error("tensor {name:?} begins at {begin}, expected {expected} (gap or overlap)")]
    NotContiguous {
        /// The tensor.
        name: String,
        /// Its begin offset.
        begin: u64,
        /// Where the previous tensor ended.
        expected: u64,
    },
    /// The tensors do not end exactly at the end of the file.
    #[error("tensor data is {actual} bytes but the tensors cover {covered}")]
    DataLenMismatch {
        /// Bytes after the header.
        actual: u64,
        /// Bytes the tensors cover.
        covered: u64,
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

const DTYPES: [(Dtype, &str, u64); 16] = [
    (Dtype::Bool, "BOOL", 1),
    (Dtype::U8, "U8", 1),
    (Dtype::I8, "I8", 1),
    (Dtype::F8E4M3, "F8_E4M3", 1),
    (Dtype::F8E5M2, "F8_E5M2", 1),
    (Dtype::F8E8M0, "F8_E8M0", 1),
    (Dtype::I16, "I16", 2),
    (Dtype::U16, "U16", 2),
    (Dtype::F16, "F16", 2),
    (Dtype::BF16, "BF16", 2),
    (Dtype::I32, "I32", 4),
    (Dtype::U32, "U32", 4),
    (Dtype::F32, "F32", 4),
    (Dtype::I64, "I64", 8),
    (Dtype::U64, "U64", 8),
    (Dtype::F64, "F64", 8),
];

impl Dtype {
    /// Parses the safetensors spelling (`"BF16"`).
    pub fn parse(s: &str) -> Option<Dtype> {
        DTYPES.iter().find(|(_, n, _)| *n == s).map(|(d, _, _)| *d)
    }

    /// The safetensors spelling.
    pub fn name(self) -> &'static str {
        DTYPES
            .iter()
            .find(|(d, _, _)| *d == self)
            .map_or("?", |(_, n, _)| n)
    }

    /// Bytes per element.
    pub fn size(self) -> u64 {
        DTYPES
            .iter()
            .find(|(d, _, _)| *d == self)
            .map_or(1, |(_, _, s)| *s)
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
    /// The tensors, in offset order.
    pub tensors: Vec<TensorInfo>,
}

impl Header {
    /// File offset of the first data byte (`8 + N`).
    pub fn data_start(&self) -> u64 {
        8 + self.header_len
    }

    /// Reads and checks the header from the start of a `file_len`-byte file, reading
    /// only `8 + N` bytes.
    pub fn read_from<R: Read>(mut r: R, file_len: u64) -> Result<Header, SafetensorsError> {
        if file_len < 8 {
            return Err(SafetensorsError::TooShort(file_len));
        }
        let mut prefix = [0u8; 8];
        r.read_exact(&mut prefix)?;
        let header_len = check_len(u64::from_le_bytes(prefix), file_len)?;
        let mut json = Vec::new();
        r.take(header_len).read_to_end(&mut json)?;
        if json.len() as u64 != header_len {
            return Err(SafetensorsError::Io(
                std::io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        parse_json(&json, header_len, file_len)
    }

    /// Checks a header given the file's first bytes (at least `8 + N` of them) and its
    /// total length. For fuzzing and for callers that already hold the prefix.
    pub fn parse(prefix: &[u8], file_len: u64) -> Result<Header, SafetensorsError> {
        if file_len < 8 || prefix.len() < 8 {
            return Err(SafetensorsError::TooShort(
                file_len.min(prefix.len() as u64),
            ));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&prefix[..8]);
        let header_len = check_len(u64::from_le_bytes(len), file_len)?;
        let end = usize::try_from(8 + header_len)
            .map_err(|_| SafetensorsError::HeaderTooLarge(header_len))?;
        let json = prefix.get(8..end).ok_or(SafetensorsError::Io(
            std::io::ErrorKind::UnexpectedEof.into(),
        ))?;
        parse_json(json, header_len, file_len)
    }
}

/// Builds the header (length prefix, JSON, space padding to a multiple of 8) of a
/// safetensors file whose tensors are laid out in the order given. The tensor bytes
/// follow it in that order. For fixtures, tests and benchmarks.
pub fn build_header(
    metadata: &BTreeMap<String, String>,
    tensors: &[(&str, Dtype, &[u64])],
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

fn check_len(header_len: u64, file_len: u64) -> Result<u64, SafetensorsError> {
    if header_len > MAX_HEADER_LEN {
        return Err(SafetensorsError::HeaderTooLarge(header_len));
    }
    if 8 + header_len > file_len {
        return Err(SafetensorsError::HeaderPastEnd {
            header_len,
            file_len,
        });
    }
    Ok(header_len)
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
        tensors.push(TensorInfo {
            name,
            dtype,
            shape: raw.shape,
            begin,
            end,
        });
    }
    tensors.sort_by_key(|t| (t.begin, t.end));
    let mut covered = 0u64;
    for t in &tensors {
        if t.begin != covered {
            return Err(SafetensorsError::NotContiguous {
                name: t.name.clone(),
                begin: t.begin,
                expected: covered,
            });
        }
        covered = t.end;
    }
    let actual = file_len - 8 - header_len;
    if covered != actual {
        return Err(SafetensorsError::DataLenMismatch { actual, covered });
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
