//! Cutting model files into chunks (DESIGN.md, "The artifact"; spec/artifact.md
//! section 6, "Chunking").
//!
//! A chunk is a byte range of one file; each becomes one blob (compressed, encrypted).
//! Boundaries follow the content so that a model that changed a little re-uploads a
//! little:
//!
//! - **safetensors** (by the `.safetensors` extension, header checked strictly by
//!   [`safetensors::Header`]): the header (length prefix and JSON) is its own chunk;
//!   then the tensors in offset order. A tensor of the target size `T` or more starts a
//!   new chunk and is split into pieces of exactly `T` bytes from the tensor's start,
//!   the last piece shorter. Consecutive tensors smaller than
//!   [`PlanParams::small_tensor`] are grouped, in order, while the group stays at most
//!   `T`; a tensor between the two thresholds is a chunk of its own. Chunk contents never
//!   depend on where the data starts, so a header that changes length (new metadata)
//!   moves no tensor chunk, and a changed tensor changes only the chunks holding it.
//! - **other files**, and `.safetensors` files whose header does not parse: FastCDC
//!   (2020 algorithm, `fastcdc::v2020::StreamCDC`, normalization level 1) with
//!   min/avg/max 1/4/16 MiB, the largest that implementation allows.
//!
//! **Grouping threshold.** spec/artifact.md section 6 groups only tensors under 1 MiB
//! (norms, biases) and gives every larger tensor its own chunk: grouping two 32 MiB
//! projections into one 64 MiB blob would re-upload both when a fine-tune touches one.
//! [`PlanParams::ARTIFACT_V1`] (equal to the default) cuts exactly where
//! `pqreg_spec::artifact::chunking::plan_safetensors` cuts (`tests/chunking_matches_spec.rs`);
//! `examples/dedup_measure.rs` and the `dedup` test measure it against grouping every
//! tensor under `T`.
//!
//! Planning streams: for safetensors only the header is read; FastCDC holds at most one
//! maximum-size chunk (16 MiB) in memory. Each planned chunk carries a dtype hint for
//! weight-aware compression ([`ChunkSpec::layout`]): the tensors' dtype when all bytes
//! of the chunk are tensors of one dtype, otherwise none.

pub mod safetensors;
pub mod synth;

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use pqreg_spec::compress::Layout;

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
    /// The parameters are outside what the planner or FastCDC accepts.
    #[error("chunking parameters invalid: {0}")]
    BadParams(&'static str),
}

/// Sizes the planner aims for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanParams {
    /// Target (and, for tensor chunks, maximum) chunk size `T`: 64 MiB. A multiple of 8
    /// (so pieces of a split tensor are whole elements), at most 2^30 (the index's limit).
    pub target: u64,
    /// Tensors smaller than this are grouped with their neighbours: 1 MiB (the spec's `S`).
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
    /// The rule spec/artifact.md section 6 states: tensors under 1 MiB are grouped, every
    /// other tensor is a chunk of its own.
    pub const ARTIFACT_V1: PlanParams = PlanParams {
        target: 64 * MIB,
        small_tensor: MIB,
        cdc_min: MIB as u32,
        cdc_avg: 4 * MIB as u32,
        cdc_max: 16 * MIB as u32,
    };

    /// Checks the sizes against the planner's and FastCDC 2020's bounds.
    pub fn validate(&self) -> Result<(), ChunkError> {
        use fastcdc::v2020 as f;
        if self.target < 8 || !self.target.is_multiple_of(8) || self.target > 1 << 30 {
            return Err(ChunkError::BadParams(
                "target must be a multiple of 8 between 8 and 2^30",
            ));
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

impl ChunkSpec {
    /// The byte-plane layout spec/artifact.md section 8 compresses this chunk with:
    /// `Bf16`, `Fp16` or `Fp32` when every byte is a tensor of that dtype, else `Bytes`.
    pub fn layout(&self) -> Layout {
        self.dtype
            .map_or(Layout::Bytes, |d| Layout::for_safetensors_dtype(d.name()))
    }
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
        // Pieces of exactly T bytes from the tensor's start, the last one shorter.
        let mut at = 0;
        while at < len {
            let n = params.target.min(len - at);
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

/// How a file was planned.
#[derive(Debug)]
pub enum Method {
    /// Tensor-aligned, from the safetensors header.
    Safetensors,
    /// FastCDC: not a `.safetensors` file.
    Cdc,
    /// FastCDC because the `.safetensors` header did not parse (spec/artifact.md
    /// section 6: such a file is chunked as an other file); the reason, for a warning.
    CdcFallback(SafetensorsError),
}

/// A file's chunk plan.
#[derive(Debug)]
pub struct FilePlan {
    /// The file's length when planned.
    pub len: u64,
    /// The chunks, in order; they tile the file exactly (none for an empty file).
    pub chunks: Vec<ChunkSpec>,
    /// How they were cut.
    pub method: Method,
}

/// Plans one file on disk: tensor-aligned for `*.safetensors` with a valid header,
/// FastCDC otherwise.
pub fn plan_file(path: &Path, params: &PlanParams) -> Result<FilePlan, ChunkError> {
    params.validate()?;
    let io = |source| ChunkError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut method = Method::Cdc;
    if is_safetensors(path) {
        match Header::read_from(BufReader::new(&mut file), len) {
            Ok(header) => {
                return Ok(FilePlan {
                    len,
                    chunks: plan_safetensors(&header, params),
                    method: Method::Safetensors,
                });
            }
            Err(SafetensorsError::Io(e)) => return Err(io(e)),
            Err(e) => method = Method::CdcFallback(e),
        }
        file.seek(SeekFrom::Start(0)).map_err(io)?;
    }
    let chunks = plan_cdc(file, params).map_err(io)?;
    Ok(FilePlan {
        len,
        chunks,
        method,
    })
}

/// Whether the planner treats `path` as safetensors.
pub fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
}

#[cfg(test)]
mod tests;
