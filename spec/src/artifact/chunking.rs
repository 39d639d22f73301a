//! Tensor-aligned chunk boundaries for safetensors and GGUF files (spec/artifact.md §6,
//! "Chunking"): pure functions from a file's header to the list of chunks, so every
//! packer cuts a file the same way and unchanged tensors keep their chunks across
//! versions. This module is the rule; the client's chunker calls it and only does the I/O.
//!
//! A file this module refuses (not safetensors, not GGUF, overlapping tensors) is chunked
//! with FastCDC by the packer instead.

use crate::compress::Layout;

use super::gguf::{self, GgufError};
use super::safetensors::{self, SafetensorsError};

/// Target (and largest) chunk of tensor data: 64 MiB.
pub const TARGET_CHUNK: u64 = 64 << 20;

/// Tensors smaller than this (1 MiB) are grouped with their neighbours; a tensor of this
/// size or more is a chunk of its own (split into [`TARGET_CHUNK`] pieces when larger).
///
/// Measured on a 321 MiB synthetic model with 10% of its tensors changed (the client's
/// `dedup_measure` example): grouping every tensor under 64 MiB reuses 42% of the bytes,
/// this rule 94% (the ideal), because a changed tensor then never drags unchanged
/// neighbours into a new blob.
pub const SMALL_TENSOR: u64 = 1 << 20;

/// Largest header accepted, safetensors or GGUF (one limit for both).
pub const MAX_HEADER_LEN: u64 = safetensors::MAX_HEADER_LEN;

/// The two sizes of the tensor rule. [`TensorParams::ARTIFACT_V1`] is spec/artifact.md
/// §6; other values exist for measurements (grouping every tensor under `T`) and for
/// scaled-down tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorParams {
    /// `T`: target and largest tensor chunk.
    pub target: u64,
    /// `S`: tensors (with the padding they own) smaller than this are grouped.
    pub small_tensor: u64,
}

impl TensorParams {
    /// The rule of spec/artifact.md §6: `T` = 64 MiB, `S` = 1 MiB.
    pub const ARTIFACT_V1: TensorParams = TensorParams {
        target: TARGET_CHUNK,
        small_tensor: SMALL_TENSOR,
    };
}

impl Default for TensorParams {
    fn default() -> Self {
        Self::ARTIFACT_V1
    }
}

/// What a chunk holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    /// The file's header (safetensors length prefix and JSON; GGUF up to the data start).
    Header,
    /// One or more whole tensors (with the padding they own).
    Tensors,
    /// A piece of one tensor larger than `T`.
    TensorPiece,
}

/// One planned chunk of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Offset in the file.
    pub offset: u64,
    /// Length in bytes (at least 1).
    pub length: u64,
    /// How to split its segments for compression.
    pub layout: Layout,
    /// What it holds.
    pub kind: PieceKind,
}

/// A tensor as the rule sees it: where it starts in the data section, whether it has any
/// bytes, and its layout.
#[derive(Debug, Clone, Copy)]
struct Tensor {
    begin: u64,
    empty: bool,
    layout: Layout,
}

/// Plans the chunks of a safetensors file from its first bytes (at least the
/// `8 + N` header bytes) and its length. See [`plan_safetensors_header`].
pub fn plan_safetensors(prefix: &[u8], file_len: u64) -> Result<Vec<Piece>, SafetensorsError> {
    let h = safetensors::Header::parse(prefix, file_len)?;
    Ok(plan_safetensors_header(&h, &TensorParams::ARTIFACT_V1))
}

/// Plans a checked safetensors header: chunk 0 is the `8 + N` header bytes, then the
/// tensor rule of `plan_tensors`.
pub fn plan_safetensors_header(h: &safetensors::Header, p: &TensorParams) -> Vec<Piece> {
    let tensors: Vec<Tensor> = h
        .tensors
        .iter()
        .map(|t| Tensor {
            begin: t.begin,
            empty: t.is_empty(),
            layout: t.dtype.layout(),
        })
        .collect();
    plan_tensors(h.data_start(), h.file_len, &tensors, p)
}

/// Plans the chunks of a GGUF file from its first bytes (at least the whole header, up to
/// the aligned data start) and its length. See [`plan_gguf_header`].
pub fn plan_gguf(prefix: &[u8], file_len: u64) -> Result<Vec<Piece>, GgufError> {
    let h = gguf::Header::parse(prefix, file_len)?;
    Ok(plan_gguf_header(&h, &TensorParams::ARTIFACT_V1))
}

/// Plans a checked GGUF header: chunk 0 is everything before the aligned data start
/// (magic, counts, metadata, tensor infos, padding), then the tensor rule of
/// `plan_tensors`, with `F32`, `F16`, `BF16` tensors in their layouts and every other
/// ggml type in `bytes`.
pub fn plan_gguf_header(h: &gguf::Header, p: &TensorParams) -> Vec<Piece> {
    let tensors: Vec<Tensor> = h
        .tensors
        .iter()
        .map(|t| Tensor {
            begin: t.begin,
            empty: t.end == t.begin,
            layout: gguf::layout_of(t.ggml_type),
        })
        .collect();
    plan_tensors(h.data_start, h.file_len, &tensors, p)
}

/// The tensor rule (spec/artifact.md §6). `tensors` are sorted by offset and do not
/// overlap (the header parsers check both); offsets are relative to `data_start`.
///
/// Chunk 0 is `0..data_start`. Each tensor owns the bytes from its start to the next
/// tensor's start (the first from the start of the data, the last to the end of the file),
/// so padding is never lost. An owned extent under `S` joins the open group when the group
/// stays within `T`, else closes it and opens a new one; an extent of `S` or more closes
/// the group and is cut into pieces of exactly `T` from its start (the last shorter). A
/// chunk's layout is the layout of its non-empty tensors when they all share one, else
/// `bytes`. Without tensors, the data section (if any) is one `bytes` group.
fn plan_tensors(
    data_start: u64,
    file_len: u64,
    tensors: &[Tensor],
    p: &TensorParams,
) -> Vec<Piece> {
    let data_len = file_len.saturating_sub(data_start);
    let mut pieces = Vec::new();
    if data_start > 0 {
        pieces.push(Piece {
            offset: 0,
            length: data_start.min(file_len),
            layout: Layout::Bytes,
            kind: PieceKind::Header,
        });
    }
    // The open group: start, end (data coordinates), layout so far (None: no bytes yet).
    struct Group {
        start: u64,
        end: u64,
        layout: Option<Layout>,
    }
    let mut group: Option<Group> = None;
    let flush = |g: &mut Option<Group>, pieces: &mut Vec<Piece>| {
        if let Some(g) = g.take()
            && g.end > g.start
        {
            pieces.push(Piece {
                offset: data_start + g.start,
                length: g.end - g.start,
                layout: g.layout.unwrap_or(Layout::Bytes),
                kind: PieceKind::Tensors,
            });
        }
    };
    for (i, t) in tensors.iter().enumerate() {
        let start = if i == 0 { 0 } else { t.begin };
        let end = tensors.get(i + 1).map_or(data_len, |n| n.begin);
        let len = end - start;
        if len >= p.small_tensor {
            flush(&mut group, &mut pieces);
            let mut at = start;
            while at < end {
                let l = (end - at).min(p.target);
                pieces.push(Piece {
                    offset: data_start + at,
                    length: l,
                    // An empty tensor owning padding only: no dtype to follow.
                    layout: if t.empty { Layout::Bytes } else { t.layout },
                    kind: if l == len {
                        PieceKind::Tensors
                    } else {
                        PieceKind::TensorPiece
                    },
                });
                at += l;
            }
            continue;
        }
        let layout = (!t.empty).then_some(t.layout);
        match &mut group {
            Some(g) if g.end - g.start + len <= p.target => {
                g.end = end;
                g.layout = match (g.layout, layout) {
                    (Some(a), Some(b)) if a != b => Some(Layout::Bytes),
                    (a, b) => a.or(b),
                };
            }
            _ => {
                flush(&mut group, &mut pieces);
                group = Some(Group { start, end, layout });
            }
        }
    }
    if tensors.is_empty() && data_len > 0 {
        group = Some(Group {
            start: 0,
            end: data_len,
            layout: None,
        });
    }
    flush(&mut group, &mut pieces);
    pieces
}

#[cfg(test)]
#[path = "chunking_tests.rs"]
mod tests;
