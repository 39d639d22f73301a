//! The GGUF header, read as spec/artifact.md §6 needs it (GGUF version 2 and 3, the format
//! of ggml's `docs/gguf.md`, as written by llama.cpp's `gguf` Python package): magic
//! `GGUF`, version `u32`, tensor count `u64`, metadata count `u64`, the metadata
//! key/value pairs, the tensor infos, padding to the alignment, then the tensor data. All
//! integers little-endian. Only the header is read, never the tensors.
//!
//! Strict, so that a malformed file cannot steer the planner: the header (up to the aligned
//! start of the data) is at most [`MAX_HEADER_LEN`] bytes and inside the file; no
//! duplicate metadata key or tensor name; no nested arrays; `general.alignment`, when
//! present, is a `u32` power of two (default 32); a tensor has 1 to 4 dimensions, a type in
//! [`GGML_TYPES`], a first dimension that is a multiple of the type's block size, an offset
//! that is a multiple of the alignment, and it ends inside the file; no two tensors
//! overlap. Bytes that no tensor covers are padding, kept by the chunking rule.
//! Counts from the file never size an allocation beyond the bytes actually present.

use std::collections::HashSet;

use crate::compress::Layout;

pub use super::safetensors::MAX_HEADER_LEN;

/// `GGUF` in ASCII: the first 4 bytes of every GGUF file.
pub const MAGIC: [u8; 4] = *b"GGUF";

/// Alignment of the tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// Most dimensions a tensor may have (ggml's `GGML_MAX_DIMS`).
pub const MAX_DIMS: u32 = 4;

/// Why a GGUF header was refused (the file is then chunked as an other file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// The file does not start with `GGUF`.
    #[error("not a GGUF file (magic)")]
    Magic,
    /// A GGUF version other than 2 and 3 (a big-endian file reads as a huge version).
    #[error("GGUF version {0} is not supported (2 and 3 are)")]
    Version(u32),
    /// The given bytes end before the header does; `need` is a lower bound on the header
    /// length (give at least that many bytes, up to the limit, and parse again).
    #[error("header incomplete: at least {need} bytes needed")]
    Incomplete {
        /// Bytes needed, at least.
        need: u64,
    },
    /// The file ends before the header does.
    #[error("the header runs past the end of a {0}-byte file")]
    Truncated(u64),
    /// The header is longer than [`MAX_HEADER_LEN`].
    #[error("header longer than the 100 MB limit")]
    HeaderTooLarge,
    /// A metadata value type outside 0..=12, or an array of arrays.
    #[error("metadata {key:?}: value type {value_type} not supported")]
    ValueType {
        /// The key.
        key: String,
        /// The type number.
        value_type: u32,
    },
    /// A metadata key appears twice.
    #[error("metadata key {0:?} appears twice")]
    DuplicateKey(String),
    /// `general.alignment` is not a `u32` power of two.
    #[error("general.alignment must be a u32 power of two")]
    BadAlignment,
    /// A tensor name appears twice.
    #[error("tensor {0:?} appears twice")]
    DuplicateTensor(String),
    /// A tensor's dimensions are out of range (0 or more than 4 of them, a first dimension
    /// not a multiple of the block size, or a byte size that overflows).
    #[error("tensor {0:?}: bad dimensions")]
    BadDims(String),
    /// A tensor type not in [`GGML_TYPES`].
    #[error("tensor {name:?}: unknown ggml type {ggml_type}")]
    UnknownType {
        /// The tensor.
        name: String,
        /// The type number.
        ggml_type: u32,
    },
    /// A tensor's offset is not a multiple of the alignment.
    #[error("tensor {0:?}: offset not a multiple of the alignment")]
    Misaligned(String),
    /// A tensor ends after the end of the file.
    #[error("tensor {0:?} ends past the end of the file")]
    PastEnd(String),
    /// A tensor begins before the previous one (in offset order) ended.
    #[error("tensor {0:?} overlaps the previous tensor")]
    Overlap(String),
}

/// The ggml tensor types: number, name, elements per block, bytes per block (ggml's
/// `ggml_type` and `GGML_QUANT_SIZES` of the `gguf` package 0.19.0). A tensor of `n`
/// elements (the product of its dimensions; the first a multiple of the block) is
/// `n / block * bytes` bytes.
pub const GGML_TYPES: [(u32, &str, u64, u64); 34] = [
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 40),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
];

/// The compression layout of a ggml type: `F32`, `F16`, `BF16` have their own, every
/// other type (quantized blocks, integers) is `bytes`.
pub fn layout_of(ggml_type: u32) -> Layout {
    match ggml_type {
        0 => Layout::Fp32,
        1 => Layout::Fp16,
        30 => Layout::Bf16,
        _ => Layout::Bytes,
    }
}

/// One tensor info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name.
    pub name: String,
    /// Dimensions, innermost first.
    pub dims: Vec<u64>,
    /// The ggml type number.
    pub ggml_type: u32,
    /// First byte, relative to the start of the data.
    pub begin: u64,
    /// One past the last byte, relative to the start of the data.
    pub end: u64,
}

/// A checked GGUF header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// 2 or 3.
    pub version: u32,
    /// Metadata pairs read.
    pub metadata_count: u64,
    /// The tensor data's alignment.
    pub alignment: u64,
    /// File offset of the first data byte: the header's length.
    pub data_start: u64,
    /// The file's total length.
    pub file_len: u64,
    /// The tensors, in offset order (ties by end offset, then name).
    pub tensors: Vec<TensorInfo>,
}

/// Whether `prefix` starts with the GGUF magic.
pub fn is_gguf(prefix: &[u8]) -> bool {
    prefix.starts_with(&MAGIC)
}

struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
    file_len: u64,
}

impl Cursor<'_> {
    fn take(&mut self, n: u64) -> Result<&[u8], GgufError> {
        let end = (self.at as u64).saturating_add(n);
        if end > self.file_len {
            return Err(GgufError::Truncated(self.file_len));
        }
        if end > MAX_HEADER_LEN {
            return Err(GgufError::HeaderTooLarge);
        }
        if end > self.buf.len() as u64 {
            return Err(GgufError::Incomplete { need: end });
        }
        let s = &self.buf[self.at..end as usize];
        self.at = end as usize;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, GgufError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, GgufError> {
        let b = self.take(8)?;
        let mut le = [0u8; 8];
        le.copy_from_slice(b);
        Ok(u64::from_le_bytes(le))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, GgufError> {
        let n = self.u64()?;
        Ok(self.take(n)?.to_vec())
    }
    fn skip_string(&mut self) -> Result<(), GgufError> {
        let n = self.u64()?;
        self.take(n).map(|_| ())
    }
}

/// Bytes of one scalar value of a metadata type; `None` for string and array.
fn scalar_size(value_type: u32) -> Option<u64> {
    match value_type {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

impl Header {
    /// Checks a GGUF header given the file's first bytes and its total length. When
    /// `prefix` ends inside the header, returns [`GgufError::Incomplete`] with how many
    /// bytes to give next (the caller reads more and calls again, up to the limit).
    pub fn parse(prefix: &[u8], file_len: u64) -> Result<Header, GgufError> {
        let mut c = Cursor {
            buf: prefix,
            at: 0,
            file_len,
        };
        if c.take(4)? != MAGIC {
            return Err(GgufError::Magic);
        }
        let version = c.u32()?;
        if version != 2 && version != 3 {
            return Err(GgufError::Version(version));
        }
        let tensor_count = c.u64()?;
        let metadata_count = c.u64()?;
        let mut keys = HashSet::new();
        let mut alignment = None;
        for _ in 0..metadata_count {
            let raw_key = c.bytes()?;
            let value_type = c.u32()?;
            let key = String::from_utf8_lossy(&raw_key).into_owned();
            let is_alignment = raw_key == b"general.alignment";
            // Keys compare as bytes (the format does not require UTF-8).
            if !keys.insert(raw_key) {
                return Err(GgufError::DuplicateKey(key));
            }
            if is_alignment {
                let a = (value_type == 4).then(|| c.u32()).transpose()?;
                match a {
                    Some(a) if a.is_power_of_two() => alignment = Some(u64::from(a)),
                    _ => return Err(GgufError::BadAlignment),
                }
                continue;
            }
            let bad = |value_type| GgufError::ValueType {
                key: key.clone(),
                value_type,
            };
            match value_type {
                8 => c.skip_string()?,
                9 => {
                    let elem = c.u32()?;
                    let count = c.u64()?;
                    if elem == 8 {
                        for _ in 0..count {
                            c.skip_string()?;
                        }
                    } else {
                        let size = scalar_size(elem).ok_or_else(|| bad(elem))?;
                        c.take(count.checked_mul(size).ok_or(GgufError::HeaderTooLarge)?)?;
                    }
                }
                t => {
                    c.take(scalar_size(t).ok_or_else(|| bad(t))?)?;
                }
            }
        }
        let alignment = alignment.unwrap_or(DEFAULT_ALIGNMENT);
        let mut names = HashSet::new();
        let mut tensors = Vec::new();
        for _ in 0..tensor_count {
            let raw_name = c.bytes()?;
            let name = String::from_utf8_lossy(&raw_name).into_owned();
            let n_dims = c.u32()?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(GgufError::BadDims(name));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(c.u64()?);
            }
            let ggml_type = c.u32()?;
            let begin = c.u64()?;
            if !names.insert(raw_name) {
                return Err(GgufError::DuplicateTensor(name));
            }
            tensors.push((name, dims, ggml_type, begin));
        }
        let end_of_infos = c.at as u64;
        let data_start = end_of_infos.div_ceil(alignment) * alignment;
        if data_start > MAX_HEADER_LEN {
            return Err(GgufError::HeaderTooLarge);
        }
        // A file with no tensor data may end before the padding.
        let data_start = if tensors.is_empty() {
            data_start.min(file_len)
        } else {
            data_start
        };
        if data_start > file_len {
            return Err(GgufError::Truncated(file_len));
        }
        let data_len = file_len - data_start;
        let mut out = Vec::with_capacity(tensors.len());
        for (name, dims, ggml_type, begin) in tensors {
            let Some(&(_, _, block, bytes)) = GGML_TYPES.iter().find(|t| t.0 == ggml_type) else {
                return Err(GgufError::UnknownType { name, ggml_type });
            };
            let elems = dims.iter().try_fold(1u64, |acc, d| acc.checked_mul(*d));
            let size = match elems {
                Some(n) if dims[0] % block == 0 => (n / block).checked_mul(bytes),
                _ => None,
            };
            let Some(size) = size else {
                return Err(GgufError::BadDims(name));
            };
            if begin % alignment != 0 {
                return Err(GgufError::Misaligned(name));
            }
            let end = begin.checked_add(size).filter(|e| *e <= data_len);
            let Some(end) = end else {
                return Err(GgufError::PastEnd(name));
            };
            out.push(TensorInfo {
                name,
                dims,
                ggml_type,
                begin,
                end,
            });
        }
        out.sort_by(|a, b| (a.begin, a.end, &a.name).cmp(&(b.begin, b.end, &b.name)));
        let mut previous_end = 0;
        for t in &out {
            if t.begin < previous_end {
                return Err(GgufError::Overlap(t.name.clone()));
            }
            previous_end = t.end;
        }
        Ok(Header {
            version,
            metadata_count,
            alignment,
            data_start,
            file_len,
            tensors: out,
        })
    }
}
