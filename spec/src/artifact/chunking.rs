//! Tensor-aligned chunk boundaries for safetensors files (spec/artifact.md, "Chunking"):
//! a pure function from the file's header to the list of chunks, so every packer cuts a
//! file the same way and unchanged tensors keep their chunks across versions.
//!
//! A file this module refuses (not safetensors, overlapping tensors) is chunked with
//! FastCDC by the packer instead.

use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::BTreeMap;

use crate::compress::Layout;
use crate::oci::{FormatError, json};

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

/// Largest safetensors header accepted (the safetensors library's own limit is 100 MB).
pub const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

/// One planned chunk of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Offset in the file.
    pub offset: u64,
    /// Length in bytes (at least 1).
    pub length: u64,
    /// How to split its segments for compression.
    pub layout: Layout,
}

/// The length of the whole safetensors header (8 + the little-endian length in the first
/// 8 bytes), checked against the file length.
pub fn safetensors_header_len(prefix: &[u8], file_len: u64) -> Result<u64, FormatError> {
    let Some(n) = prefix.get(..8) else {
        return Err(FormatError::Safetensors("shorter than 8 bytes".into()));
    };
    let mut le = [0u8; 8];
    le.copy_from_slice(n);
    let n = u64::from_le_bytes(le);
    if n > MAX_SAFETENSORS_HEADER || 8 + n > file_len {
        return Err(FormatError::Safetensors(format!("header length {n}")));
    }
    Ok(8 + n)
}

#[derive(Deserialize)]
struct TensorInfo {
    dtype: String,
    #[allow(dead_code)] // required by the format, not needed for boundaries
    shape: IgnoredAny,
    data_offsets: [u64; 2],
}

/// Plans the chunks of a safetensors file from its header (`header` = the first
/// [`safetensors_header_len`] bytes of the file) and its length.
///
/// Chunk 0 is the header. Each tensor owns the bytes from its start to the next tensor's
/// start (the first from the start of the data, the last to the end of the file), so
/// padding is never lost. Tensors under [`SMALL_TENSOR`] are grouped in order while a
/// group stays within [`TARGET_CHUNK`]; a larger tensor is a chunk of its own, cut into
/// pieces of exactly `TARGET_CHUNK` from its start. The layout is the tensors' shared dtype when it is BF16, F16 or F32.
pub fn plan_safetensors(header: &[u8], file_len: u64) -> Result<Vec<Piece>, FormatError> {
    let hlen = safetensors_header_len(header, file_len)?;
    if header.len() as u64 != hlen {
        return Err(FormatError::Safetensors("header bytes incomplete".into()));
    }
    let mut map: BTreeMap<String, serde_json::Value> =
        json::parse(&header[8..], MAX_SAFETENSORS_HEADER as usize)
            .map_err(|e| FormatError::Safetensors(e.to_string()))?;
    map.remove("__metadata__");
    let mut tensors = Vec::with_capacity(map.len());
    for (name, v) in map {
        let t: TensorInfo = serde_json::from_value(v)
            .map_err(|e| FormatError::Safetensors(format!("tensor {name:?}: {e}")))?;
        let [b, e] = t.data_offsets;
        if b > e || e > file_len - hlen {
            return Err(FormatError::Safetensors(format!(
                "tensor {name:?}: bad data_offsets"
            )));
        }
        tensors.push((b, e, Layout::for_safetensors_dtype(&t.dtype)));
    }
    tensors.sort_unstable_by_key(|t| (t.0, t.1));
    let data_len = file_len - hlen;
    let mut pieces = vec![Piece {
        offset: 0,
        length: hlen,
        layout: Layout::Bytes,
    }];
    // The extent each tensor owns, in data coordinates.
    let mut group: Option<(u64, u64, Layout)> = None;
    let flush = |g: &mut Option<(u64, u64, Layout)>, pieces: &mut Vec<Piece>| {
        if let Some((s, e, l)) = g.take()
            && e > s
        {
            pieces.push(Piece {
                offset: hlen + s,
                length: e - s,
                layout: l,
            });
        }
    };
    for (i, &(b, e, layout)) in tensors.iter().enumerate() {
        if i > 0 && b < tensors[i - 1].1 {
            return Err(FormatError::Safetensors("overlapping tensors".into()));
        }
        let start = if i == 0 { 0 } else { b };
        let end = tensors.get(i + 1).map_or(data_len, |n| n.0.max(e));
        let len = end - start;
        if len >= SMALL_TENSOR {
            flush(&mut group, &mut pieces);
            let mut at = start;
            while at < end {
                let l = (end - at).min(TARGET_CHUNK);
                pieces.push(Piece {
                    offset: hlen + at,
                    length: l,
                    layout,
                });
                at += l;
            }
            continue;
        }
        match &mut group {
            Some((gs, ge, gl)) if *ge - *gs + len <= TARGET_CHUNK => {
                *ge = end;
                if e > b && *gl != layout {
                    *gl = Layout::Bytes;
                }
            }
            _ => {
                flush(&mut group, &mut pieces);
                group = Some((start, end, layout));
            }
        }
    }
    if tensors.is_empty() && data_len > 0 {
        group = Some((0, data_len, Layout::Bytes));
    }
    flush(&mut group, &mut pieces);
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// A safetensors header for tensors of the given sizes and dtypes, laid out in order.
    fn header(tensors: &[(&str, u64, &str)], metadata: &str) -> (Vec<u8>, u64) {
        let mut at = 0;
        let mut entries = vec![format!("\"__metadata__\":{{\"note\":\"{metadata}\"}}")];
        for (name, size, dtype) in tensors {
            entries.push(format!(
                "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{size}],\"data_offsets\":[{at},{}]}}",
                at + size
            ));
            at += size;
        }
        let json = format!("{{{}}}", entries.join(","));
        let mut h = (json.len() as u64).to_le_bytes().to_vec();
        h.extend_from_slice(json.as_bytes());
        let len = h.len() as u64 + at;
        (h, len)
    }

    #[test]
    fn groups_small_and_splits_large() {
        let (h, len) = header(
            &[
                ("a", 10 * MIB, "BF16"),
                ("b", 20 * MIB, "BF16"),
                ("c", 40 * MIB, "BF16"),
                ("d", 150 * MIB, "F32"),
                ("e", MIB / 2, "I64"),
                ("f", MIB / 4, "BF16"),
                ("g", MIB, "BF16"),
            ],
            "v1",
        );
        let p = plan_safetensors(&h, len).unwrap();
        let lens: Vec<u64> = p.iter().map(|p| p.length * 4 / MIB).collect();
        // header, a, b, c, d in 64+64+22, e+f grouped (both under 1 MiB), g alone
        assert_eq!(lens, vec![0, 40, 80, 160, 256, 256, 88, 3, 4]);
        assert_eq!(p[0].length, h.len() as u64);
        assert_eq!(p[1].layout, Layout::Bf16);
        assert_eq!(p[4].layout, Layout::Fp32);
        assert_eq!(p[7].layout, Layout::Bytes);
        assert_eq!(p[8].layout, Layout::Bf16);
        // The pieces tile the file.
        let mut at = 0;
        for piece in &p {
            assert_eq!(piece.offset, at);
            at += piece.length;
        }
        assert_eq!(at, len);
    }

    #[test]
    fn header_change_keeps_tensor_chunks() {
        let t = [("a", 3 * MIB, "F16"), ("b", 70 * MIB, "F16")];
        let (h1, l1) = header(&t, "short");
        let (h2, l2) = header(&t, "a much longer metadata value");
        let p1 = plan_safetensors(&h1, l1).unwrap();
        let p2 = plan_safetensors(&h2, l2).unwrap();
        let rel = |p: &[Piece], h: u64| -> Vec<(u64, u64)> {
            p[1..].iter().map(|x| (x.offset - h, x.length)).collect()
        };
        assert_eq!(rel(&p1, h1.len() as u64), rel(&p2, h2.len() as u64));
    }

    #[test]
    fn refuses_malformed() {
        let (h, len) = header(&[("a", 10, "F32")], "x");
        assert!(plan_safetensors(&h[..h.len() - 1], len).is_err());
        assert!(plan_safetensors(&h, h.len() as u64 + 5).is_err());
        assert!(safetensors_header_len(b"\xff\xff\xff\xff\xff\xff\xff\xff", 1 << 40).is_err());
        assert!(safetensors_header_len(b"abc", 10).is_err());
        let mut bad = h.clone();
        let n = bad.len();
        bad[n - 2] = b'!';
        assert!(plan_safetensors(&bad, len).is_err());
    }
}
