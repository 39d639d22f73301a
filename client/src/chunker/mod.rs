//! Cutting model files into chunks (DESIGN.md, "The artifact"; spec/artifact.md
//! section 6, "Chunking").
//!
//! A chunk is a byte range of one file; each becomes one blob (compressed, encrypted).
//! Boundaries follow the content so that a model that changed a little re-uploads a
//! little. The tensor rule is not here: `pqreg_spec::artifact::chunking` is the one rule
//! (header parsing, dtype tables, the header-size limit, the grouping), and this module
//! only reads the bytes it needs from disk and runs FastCDC:
//!
//! - **safetensors** (by the `.safetensors` extension): the `8 + N` header bytes are read
//!   and handed to `plan_safetensors_header`.
//! - **GGUF** (any file starting with the magic `GGUF`): the header is read, growing the
//!   buffer while the parser asks for more (up to the one header limit), and handed to
//!   `plan_gguf_header`.
//! - **other files**, and files of either kind whose header the rule refuses: FastCDC
//!   (2020 algorithm, `fastcdc::v2020::StreamCDC`, normalization level 1) with
//!   min/avg/max 1/4/16 MiB, the largest that implementation allows.
//!
//! Planning streams: for tensor files only the header is read; FastCDC holds at most one
//! maximum-size chunk (16 MiB) in memory. Each planned chunk carries the byte-plane layout
//! the rule chose for it ([`ChunkSpec::layout`]).

pub mod safetensors;
#[cfg(any(test, feature = "test-support"))]
pub mod synth;

pub use pqreg_spec::artifact::chunking::MAX_HEADER_LEN;

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use pqreg_spec::compress::Layout;

use pqreg_spec::artifact::chunking::{self as rule, Piece, PieceKind, TensorParams};
use pqreg_spec::artifact::gguf;
use pqreg_spec::oci::FormatError;

use self::safetensors::Header;

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
            target: rule::TARGET_CHUNK,
            small_tensor: rule::SMALL_TENSOR,
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
        target: rule::TARGET_CHUNK,
        small_tensor: rule::SMALL_TENSOR,
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
    /// The header of a safetensors or GGUF file.
    Header,
    /// One or more whole tensors.
    Tensors,
    /// A piece of one tensor larger than the target.
    TensorPiece,
    /// A FastCDC chunk of a file that is not safetensors or GGUF.
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
    /// The byte-plane layout spec/artifact.md section 8 compresses this chunk with.
    pub layout: Layout,
}

impl ChunkSpec {
    /// The byte-plane layout spec/artifact.md section 8 compresses this chunk with:
    /// `Bf16`, `Fp16` or `Fp32` when every tensor in it has that type, else `Bytes`.
    pub fn layout(&self) -> Layout {
        self.layout
    }
}

impl From<Piece> for ChunkSpec {
    fn from(p: Piece) -> Self {
        ChunkSpec {
            offset: p.offset,
            len: p.length,
            kind: match p.kind {
                PieceKind::Header => ChunkKind::Header,
                PieceKind::Tensors => ChunkKind::Tensors,
                PieceKind::TensorPiece => ChunkKind::TensorPiece,
            },
            layout: p.layout,
        }
    }
}

impl PlanParams {
    /// The tensor rule's sizes.
    pub fn tensor_params(&self) -> TensorParams {
        TensorParams {
            target: self.target,
            small_tensor: self.small_tensor,
        }
    }
}

/// Plans a safetensors file from its checked header alone
/// (`pqreg_spec::artifact::chunking::plan_safetensors_header`).
pub fn plan_safetensors(header: &Header, params: &PlanParams) -> Vec<ChunkSpec> {
    rule::plan_safetensors_header(header, &params.tensor_params())
        .into_iter()
        .map(ChunkSpec::from)
        .collect()
}

/// Plans a GGUF file from its checked header alone
/// (`pqreg_spec::artifact::chunking::plan_gguf_header`).
pub fn plan_gguf(header: &gguf::Header, params: &PlanParams) -> Vec<ChunkSpec> {
    rule::plan_gguf_header(header, &params.tensor_params())
        .into_iter()
        .map(ChunkSpec::from)
        .collect()
}

/// Bytes read first when looking for a GGUF header (most headers fit; a large tokenizer
/// vocabulary takes a few more reads).
const GGUF_FIRST_READ: u64 = 1 << 20;

/// Reads a GGUF header from the start of `r`, growing the read while the parser asks for
/// more bytes. The outer error is I/O; the inner one says the file is not GGUF.
pub fn read_gguf_header<R: Read>(
    mut r: R,
    file_len: u64,
) -> std::io::Result<Result<gguf::Header, gguf::GgufError>> {
    let mut buf = Vec::new();
    let mut want = GGUF_FIRST_READ.min(file_len);
    loop {
        let have = buf.len() as u64;
        (&mut r).take(want - have).read_to_end(&mut buf)?;
        if (buf.len() as u64) < want {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        match gguf::Header::parse(&buf, file_len) {
            Err(gguf::GgufError::Incomplete { need }) if need > want => {
                // Doubling bounds the reads to a logarithmic number; the parser's own
                // limit (MAX_HEADER_LEN) and the file length bound the buffer.
                want = need
                    .max(want.saturating_mul(2))
                    .min(file_len)
                    .min(MAX_HEADER_LEN);
                if want <= have {
                    return Ok(Err(gguf::GgufError::HeaderTooLarge));
                }
            }
            other => return Ok(other),
        }
    }
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
            layout: Layout::Bytes,
        });
    }
    Ok(out)
}

/// How a file was planned.
#[derive(Debug)]
pub enum Method {
    /// Tensor-aligned, from the safetensors header.
    Safetensors,
    /// Tensor-aligned, from the GGUF header.
    Gguf,
    /// FastCDC: neither a `.safetensors` file nor a file starting with `GGUF`.
    Cdc,
    /// FastCDC because the header did not pass the rule (spec/artifact.md section 6:
    /// such a file is chunked as an other file); the reason, for a warning.
    CdcFallback(FormatError),
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

/// What [`plan_tensor_file`] found.
#[derive(Debug)]
pub enum TensorPlan {
    /// The rule accepted the header: the chunks, and [`Method::Safetensors`] or
    /// [`Method::Gguf`].
    Planned(Vec<ChunkSpec>, Method),
    /// A `.safetensors` file, or one starting with `GGUF`, whose header the rule refused.
    Refused(FormatError),
    /// Neither kind of tensor file.
    Other,
}

/// Plans a tensor file (safetensors by extension, GGUF by magic) from the start of `file`,
/// reading only its header. `Err` on I/O only. The file position is unspecified
/// afterwards.
pub fn plan_tensor_file<R: Read>(
    mut file: R,
    path: &Path,
    len: u64,
    params: &PlanParams,
) -> std::io::Result<TensorPlan> {
    if is_safetensors(path) {
        return Ok(match safetensors::read_header(file, len)? {
            Ok(h) => TensorPlan::Planned(plan_safetensors(&h, params), Method::Safetensors),
            Err(e) => TensorPlan::Refused(e.into()),
        });
    }
    let mut magic = [0u8; 4];
    if len < 4 {
        return Ok(TensorPlan::Other);
    }
    file.read_exact(&mut magic)?;
    if !gguf::is_gguf(&magic) {
        return Ok(TensorPlan::Other);
    }
    let rest = std::io::Read::chain(&magic[..], file);
    Ok(match read_gguf_header(rest, len)? {
        Ok(h) => TensorPlan::Planned(plan_gguf(&h, params), Method::Gguf),
        Err(e) => TensorPlan::Refused(e.into()),
    })
}

/// Plans one file on disk: tensor-aligned for a safetensors or GGUF file the rule accepts,
/// FastCDC otherwise.
pub fn plan_file(path: &Path, params: &PlanParams) -> Result<FilePlan, ChunkError> {
    params.validate()?;
    let io = |source| ChunkError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let method = match plan_tensor_file(BufReader::new(&mut file), path, len, params).map_err(io)? {
        TensorPlan::Planned(chunks, method) => {
            return Ok(FilePlan {
                len,
                chunks,
                method,
            });
        }
        TensorPlan::Refused(reason) => Method::CdcFallback(reason),
        TensorPlan::Other => Method::Cdc,
    };
    file.seek(SeekFrom::Start(0)).map_err(io)?;
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
