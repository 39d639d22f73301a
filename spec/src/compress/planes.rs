//! Splitting a segment into byte planes and joining them back, each in one pass
//! (spec/artifact.md, "Weight-aware compression"). A segment of `n` bytes with `w`-byte
//! values has `m = n / w` whole values and `r = n % w` tail bytes; planes `0..p-1` hold
//! `m` bytes each and the last plane holds `m + r`: the tail bytes, unchanged, follow
//! its `m`.

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

/// Splits `data` into `layout.planes()` planes, replacing the contents of `planes[..p]`.
pub(super) fn split(layout: Layout, data: &[u8], planes: &mut [Vec<u8>]) {
    let w = width(layout);
    let whole = data.len() - data.len() % w;
    let m = whole / w;
    for (i, p) in planes.iter_mut().take(layout.planes()).enumerate() {
        p.clear();
        p.resize(plane_len(layout, data.len(), i), 0);
    }
    // Index loops over slices cut to `m` values: the bounds checks fold away and the
    // compiler vectorizes them (about 5x faster than iterator chains over
    // `chunks_exact`).
    let vals = &data[..whole];
    match layout {
        Layout::Bytes => planes[0].copy_from_slice(data),
        Layout::Bf16 | Layout::Fp16 => {
            let (p0, rest) = planes.split_at_mut(1);
            let (a, b) = (&mut p0[0][..m], &mut rest[0][..m]);
            if layout == Layout::Bf16 {
                for i in 0..m {
                    let v = u16::from_le_bytes([vals[2 * i], vals[2 * i + 1]]);
                    // exponent = bits 14..7; sign | mantissa = bit 15 | bits 6..0.
                    a[i] = (v >> 7) as u8;
                    b[i] = (((v >> 8) & 0x80) | (v & 0x7f)) as u8;
                }
            } else {
                for i in 0..m {
                    a[i] = vals[2 * i + 1];
                    b[i] = vals[2 * i];
                }
            }
        }
        Layout::Fp32 => {
            let [p0, p1, p2, p3, ..] = planes else {
                return;
            };
            let (p0, p1, p2, p3) = (&mut p0[..m], &mut p1[..m], &mut p2[..m], &mut p3[..m]);
            for i in 0..m {
                let v = u32::from_le_bytes([
                    vals[4 * i],
                    vals[4 * i + 1],
                    vals[4 * i + 2],
                    vals[4 * i + 3],
                ]);
                // exponent = bits 30..23; sign | top mantissa = bit 31 | bits 22..16.
                p0[i] = (v >> 23) as u8;
                p1[i] = (((v >> 24) & 0x80) | ((v >> 16) & 0x7f)) as u8;
                p2[i] = (v >> 8) as u8;
                p3[i] = v as u8;
            }
        }
    }
    if w > 1 {
        let last = layout.planes() - 1;
        planes[last][m..].copy_from_slice(&data[whole..]);
    }
}

/// Joins planes (each exactly [`plane_len`] bytes) into `out` (`n` bytes).
pub(super) fn join(layout: Layout, planes: &[&[u8]], out: &mut [u8]) {
    if let (Layout::Bytes, [p0, ..]) = (layout, planes) {
        out.copy_from_slice(p0);
        return;
    }
    let w = width(layout);
    let whole = out.len() - out.len() % w;
    let m = whole / w;
    let (vals, tail) = out.split_at_mut(whole);
    match (layout, planes) {
        (Layout::Bf16, [a, b, ..]) => {
            let (a, b) = (&a[..m], &b[..m]);
            for i in 0..m {
                let (e, s) = (u16::from(a[i]), u16::from(b[i]));
                let v = ((s & 0x80) << 8) | (e << 7) | (s & 0x7f);
                vals[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
            }
        }
        (Layout::Fp16, [a, b, ..]) => {
            let (a, b) = (&a[..m], &b[..m]);
            for i in 0..m {
                vals[2 * i + 1] = a[i];
                vals[2 * i] = b[i];
            }
        }
        (Layout::Fp32, [a, b, c, d, ..]) => {
            let (a, b, c, d) = (&a[..m], &b[..m], &c[..m], &d[..m]);
            for i in 0..m {
                let (e, s) = (u32::from(a[i]), u32::from(b[i]));
                let v = ((s & 0x80) << 24)
                    | (e << 23)
                    | ((s & 0x7f) << 16)
                    | (u32::from(c[i]) << 8)
                    | u32::from(d[i]);
                vals[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        _ => {}
    }
    if let Some(last) = planes.get(layout.planes() - 1) {
        tail.copy_from_slice(&last[m..]);
    }
}
