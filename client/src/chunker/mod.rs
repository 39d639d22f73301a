//! Cutting model files into chunks (DESIGN.md, "The artifact"; spec/artifact.md).
//!
//! A chunk is a byte range of one file; each becomes one blob (compressed, encrypted).
//! Boundaries follow the content so that a model that changed a little re-uploads a
//! little:
//!
//! - **safetensors** (by the `.safetensors` extension): the header (length prefix and
//!   JSON) is its own chunk; then the tensors in offset order. A tensor larger than the
//!   target blob size is split into equal pieces inside the tensor, each at most the
//!   target and a whole number of elements. A tensor of at least
//!   [`PlanParams::small_tensor`] bytes is a chunk of its own. Runs of consecutive small
//!   tensors (norms, biases) are grouped, in order, up to the target size. Because chunk
//!   contents do not depend on where the data starts, a header that changes length (new
//!   metadata) moves no tensor chunk, and a fine-tune that changes a tensor changes only
//!   the chunks holding it.
//!
//!   Why medium tensors stand alone rather than being grouped up to the target: grouping
//!   two 32 MiB projections in one 64 MiB blob doubles what is re-uploaded when a
//!   fine-tune touches one of them, for no gain (blob counts stay in the hundreds).
//!   Measured by `examples/dedup_measure.rs` and the `dedup` test below.
//! - **other files**: FastCDC (2020 algorithm, `fastcdc::v2020::StreamCDC`) with
//!   min/avg/max 1/4/16 MiB. The 2020 implementation caps the maximum at 16 MiB (and the
//!   average at 4 MiB); config, tokenizer and vocabulary files are far smaller, and for
//!   large opaque weight files (`.bin`, `.pt`) 4 MiB average keeps re-pushes fine-grained.
//!
//! Planning streams: for safetensors only the header is read; FastCDC holds at most one
//! maximum-size chunk (16 MiB) in memory. Each planned chunk carries a dtype hint for
//! weight-aware compression: the tensors' dtype when all bytes of the chunk are tensors
//! of one dtype, otherwise none (header, mixed groups, non-safetensors files).

pub mod safetensors;
pub mod synth;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use self::safetensors::{Dtype, Header, SafetensorsError};

const MIB: u64 = 1024 * 1024;

/// Why a file could not be planned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is named `.safetensors` but its header is malformed.
    #[error("{path}: {source} (is it a safetensors file? rename it or re-export it)")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong with the header.
        source: SafetensorsError,
    },
    /// The parameters are outside what the planner or FastCDC accepts.
    #[error("chunking parameters invalid: {0}")]
    BadParams(&'static str),
}

/// Sizes the planner aims for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanParams {
    /// Target (and, for tensor chunks, maximum) chunk size: 64 MiB.
    pub target: u64,
    /// Tensors smaller than this are grouped with their neighbours: 1 MiB.
    pub small_tensor: u64,
    /// FastCDC minimum chunk size: 1 MiB (at most 1 MiB).
    pub cdc_min: u32,
    /// FastCDC average chunk size: 4 MiB (at most 4 MiB).
    pub cdc_avg: u32,
    /// FastCDC maximum chunk size: 16 MiB (at most 16 MiB).
    pub cdc_max: u32,
}

impl Default for PlanParams {
    fn default() -> Self {
        PlanParams {
            target: 64 * MIB,
            small_tensor: MIB,
            cdc_min: MIB as u32,
            cdc_avg: 4 * MIB as u32,
            cdc_max: 16 * MIB as u32,
        }
    }
}

impl PlanParams {
    /// Checks the sizes against the planner's and FastCDC 2020's bounds.
    pub fn validate(&self) -> Result<(), ChunkError> {
        use fastcdc::v2020 as f;
        if self.target < 8 {
            return Err(ChunkError::BadParams("target must be at least 8 bytes"));
        }
        if self.small_tensor > self.target {
            return Err(ChunkError::BadParams("small_tensor must not exceed target"));
        }
        let (min, avg, max) = (
            self.cdc_min as usize,
            self.cdc_avg as usize,
            self.cdc_max as usize,
        );
        let in_range = (f::MINIMUM_MIN..=f::MINIMUM_MAX).contains(&min)
            && (f::AVERAGE_MIN..=f::AVERAGE_MAX).contains(&avg)
            && (f::MAXIMUM_MIN..=f::MAXIMUM_MAX).contains(&max);
        if !in_range {
            return Err(ChunkError::BadParams(
                "FastCDC sizes out of range (min 64..1Mi, avg 256..4Mi, max 1Ki..16Mi)",
            ));
        }
        if !(min <= avg && avg <= max) || min % 2 != 0 || avg % 2 != 0 || max % 2 != 0 {
            return Err(ChunkError::BadParams(
                "FastCDC sizes must be even and min <= avg <= max",
            ));
        }
        Ok(())
    }
}

/// What a chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// The safetensors length prefix and JSON header.
    Header,
    /// One or more whole tensors.
    Tensors,
    /// A piece of one tensor larger than the target.
    TensorPiece,
    /// A FastCDC chunk of a file that is not safetensors.
    Cdc,
}

/// One planned chunk: a byte range of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpec {
    /// Offset in the file.
    pub offset: u64,
    /// Length in bytes (never 0).
    pub len: u64,
    /// What the chunk holds.
    pub kind: ChunkKind,
    /// The element type of every byte in the chunk, when there is exactly one.
    pub dtype: Option<Dtype>,
}

/// Plans a safetensors file from its checked header alone.
pub fn plan_safetensors(header: &Header, params: &PlanParams) -> Vec<ChunkSpec> {
    let base = header.data_start();
    let mut out = vec![ChunkSpec {
        offset: 0,
        len: base,
        kind: ChunkKind::Header,
        dtype: None,
    }];
    // The open group of small tensors: start, length, common dtype (None if mixed).
    let mut group: Option<(u64, u64, Option<Dtype>)> = None;
    let flush = |group: &mut Option<(u64, u64, Option<Dtype>)>, out: &mut Vec<ChunkSpec>| {
        if let Some((offset, len, dtype)) = group.take()
            && len > 0
        {
            out.push(ChunkSpec {
                offset: base + offset,
                len,
                kind: ChunkKind::Tensors,
                dtype,
            });
        }
    };
    for t in &header.tensors {
        let len = t.len();
        if len == 0 {
            continue;
        }
        if len < params.small_tensor {
            if let Some((_, glen, _)) = group
                && glen + len > params.target
            {
                flush(&mut group, &mut out);
            }
            group = Some(match group {
                None => (t.begin, len, Some(t.dtype)),
                Some((start, glen, d)) => (start, glen + len, d.filter(|d| *d == t.dtype)),
            });
            continue;
        }
        flush(&mut group, &mut out);
        if len <= params.target {
            out.push(ChunkSpec {
                offset: base + t.begin,
                len,
                kind: ChunkKind::Tensors,
                dtype: Some(t.dtype),
            });
            continue;
        }
        // Equal pieces of whole elements, none above the target (rounding the piece up to
        // whole elements can only exceed the target when the element is not a divisor of
        // it, so round the piece count up instead).
        let elem = t.dtype.size();
        let elems = len / elem;
        let per_target = (params.target / elem).max(1);
        let pieces = elems.div_ceil(per_target);
        let per_piece = elems.div_ceil(pieces) * elem;
        let mut at = 0;
        while at < len {
            let n = per_piece.min(len - at);
            out.push(ChunkSpec {
                offset: base + t.begin + at,
                len: n,
                kind: ChunkKind::TensorPiece,
                dtype: Some(t.dtype),
            });
            at += n;
        }
    }
    flush(&mut group, &mut out);
    out
}

/// Plans any stream with FastCDC; returns the chunks in order.
pub fn plan_cdc<R: Read>(reader: R, params: &PlanParams) -> Result<Vec<ChunkSpec>, std::io::Error> {
    let cdc = fastcdc::v2020::StreamCDC::new(
        reader,
        params.cdc_min as usize,
        params.cdc_avg as usize,
        params.cdc_max as usize,
    );
    let mut out = Vec::new();
    for c in cdc {
        let c = c.map_err(std::io::Error::from)?;
        out.push(ChunkSpec {
            offset: c.offset,
            len: c.length as u64,
            kind: ChunkKind::Cdc,
            dtype: None,
        });
    }
    Ok(out)
}

/// Plans one file on disk: tensor-aligned for `*.safetensors`, FastCDC otherwise.
pub fn plan_file(path: &Path, params: &PlanParams) -> Result<Vec<ChunkSpec>, ChunkError> {
    params.validate()?;
    let io = |source| ChunkError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if is_safetensors(path) {
        let header =
            Header::read_from(BufReader::new(file), len).map_err(|source| match source {
                SafetensorsError::Io(e) => ChunkError::Io {
                    path: path.to_owned(),
                    source: e,
                },
                source => ChunkError::Safetensors {
                    path: path.to_owned(),
                    source,
                },
            })?;
        return Ok(plan_safetensors(&header, params));
    }
    plan_cdc(file, params).map_err(io)
}

/// Whether the planner treats `path` as safetensors.
pub fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
}

#[cfg(test)]
mod tests;
