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
    let vals = data[..whole].chunks_exact(w);
    match layout {
        Layout::Bytes => planes[0].copy_from_slice(data),
        Layout::Bf16 | Layout::Fp16 => {
            let (p0, rest) = planes.split_at_mut(1);
            let (a, b) = (&mut p0[0][..m], &mut rest[0][..m]);
            let bf16 = layout == Layout::Bf16;
            for ((v, e), s) in vals.zip(a.iter_mut()).zip(b.iter_mut()) {
                if bf16 {
                    // exponent = bits 14..7; sign | mantissa = bit 15 | bits 6..0.
                    *e = (v[1] << 1) | (v[0] >> 7);
                    *s = (v[1] & 0x80) | (v[0] & 0x7f);
                } else {
                    *e = v[1];
                    *s = v[0];
                }
            }
        }
        Layout::Fp32 => {
            let [p0, p1, p2, p3, ..] = planes else {
                return;
            };
            let it = vals
                .zip(p0[..m].iter_mut())
                .zip(p1[..m].iter_mut())
                .zip(p2[..m].iter_mut())
                .zip(p3[..m].iter_mut());
            for ((((v, e), s), b2), b3) in it {
                // exponent = bits 30..23; sign | top mantissa = bit 31 | bits 22..16.
                *e = (v[3] << 1) | (v[2] >> 7);
                *s = (v[3] & 0x80) | (v[2] & 0x7f);
                *b2 = v[1];
                *b3 = v[0];
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
    let vals = vals.chunks_exact_mut(w);
    match (layout, planes) {
        (Layout::Bf16, [a, b, ..]) => {
            for ((v, &e), &s) in vals.zip(&a[..m]).zip(&b[..m]) {
                v[1] = (s & 0x80) | (e >> 1);
                v[0] = (e << 7) | (s & 0x7f);
            }
        }
        (Layout::Fp16, [a, b, ..]) => {
            for ((v, &hi), &lo) in vals.zip(&a[..m]).zip(&b[..m]) {
                v[1] = hi;
                v[0] = lo;
            }
        }
        (Layout::Fp32, [a, b, c, d, ..]) => {
            let it = vals.zip(&a[..m]).zip(&b[..m]).zip(&c[..m]).zip(&d[..m]);
            for ((((v, &e), &s), &b2), &b3) in it {
                v[3] = (s & 0x80) | (e >> 1);
                v[2] = (e << 7) | (s & 0x7f);
                v[1] = b2;
                v[0] = b3;
            }
        }
        _ => {}
    }
    if let Some(last) = planes.get(layout.planes() - 1) {
        tail.copy_from_slice(&last[m..]);
    }
}
