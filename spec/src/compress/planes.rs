//! Splitting a segment into byte planes and merging them back (spec/artifact.md,
//! "Weight-aware compression"). A segment of `n` bytes with `w`-byte values has
//! `m = n / w` whole values and `r = n % w` tail bytes; planes `0..p-1` hold `m` bytes
//! each and the last plane holds `m + r`: the tail bytes, unchanged, follow its `m`.

use super::Layout;

fn width(layout: Layout) -> usize {
    match layout {
        Layout::Bytes => 1,
        Layout::Bf16 | Layout::Fp16 => 2,
        Layout::Fp32 => 4,
    }
}

/// Decoded length of plane `i` of an `n`-byte segment.
pub(super) fn plane_len(layout: Layout, n: usize, i: usize) -> usize {
    let w = width(layout);
    let m = n / w;
    if i + 1 == layout.planes() {
        m + n % w
    } else {
        m
    }
}

/// Writes plane `i` of `data` into `out` (cleared first).
pub(super) fn split(layout: Layout, data: &[u8], i: usize, out: &mut Vec<u8>) {
    out.clear();
    let w = width(layout);
    let whole = data.len() - data.len() % w;
    let vals = data[..whole].chunks_exact(w);
    match (layout, i) {
        (Layout::Bytes, _) => out.extend_from_slice(data),
        // bf16: exponent = bits 14..7; sign | mantissa = bit 15 | bits 6..0.
        (Layout::Bf16, 0) => out.extend(vals.map(|v| (v[1] << 1) | (v[0] >> 7))),
        (Layout::Bf16, _) => out.extend(vals.map(|v| (v[1] & 0x80) | (v[0] & 0x7f))),
        // fp16: high bytes, then low bytes.
        (Layout::Fp16, 0) => out.extend(vals.map(|v| v[1])),
        (Layout::Fp16, _) => out.extend(vals.map(|v| v[0])),
        // fp32: exponent = bits 30..23; sign | top mantissa = bit 31 | bits 22..16.
        (Layout::Fp32, 0) => out.extend(vals.map(|v| (v[3] << 1) | (v[2] >> 7))),
        (Layout::Fp32, 1) => out.extend(vals.map(|v| (v[3] & 0x80) | (v[2] & 0x7f))),
        (Layout::Fp32, 2) => out.extend(vals.map(|v| v[1])),
        (Layout::Fp32, _) => out.extend(vals.map(|v| v[0])),
    }
    if w > 1 && i + 1 == layout.planes() {
        out.extend_from_slice(&data[whole..]);
    }
}

/// ORs plane `i` (of exactly [`plane_len`] bytes) into `out`, which is zeroed before
/// the first plane and `n` bytes long.
pub(super) fn merge(layout: Layout, plane: &[u8], i: usize, out: &mut [u8]) {
    let w = width(layout);
    let whole = out.len() - out.len() % w;
    let (vals, tail) = out.split_at_mut(whole);
    let pairs = vals.chunks_exact_mut(w).zip(plane.iter());
    match (layout, i) {
        (Layout::Bytes, _) => vals.copy_from_slice(&plane[..whole]),
        (Layout::Bf16, 0) => pairs.for_each(|(v, &e)| {
            v[1] |= e >> 1;
            v[0] |= e << 7;
        }),
        (Layout::Bf16, _) => pairs.for_each(|(v, &s)| {
            v[1] |= s & 0x80;
            v[0] |= s & 0x7f;
        }),
        (Layout::Fp16, 0) => pairs.for_each(|(v, &b)| v[1] = b),
        (Layout::Fp16, _) => pairs.for_each(|(v, &b)| v[0] = b),
        (Layout::Fp32, 0) => pairs.for_each(|(v, &e)| {
            v[3] |= e >> 1;
            v[2] |= e << 7;
        }),
        (Layout::Fp32, 1) => pairs.for_each(|(v, &s)| {
            v[3] |= s & 0x80;
            v[2] |= s & 0x7f;
        }),
        (Layout::Fp32, 2) => pairs.for_each(|(v, &b)| v[1] = b),
        (Layout::Fp32, _) => pairs.for_each(|(v, &b)| v[0] = b),
    }
    if w > 1 && i + 1 == layout.planes() {
        tail.copy_from_slice(&plane[whole / w..]);
    }
}
