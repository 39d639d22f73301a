//! Measures weight-aware compression on synthetic weights ~N(0, 0.02) (fixed seed):
//! ratio of plain zstd level 1 against weight-aware byte planes, and single-core throughput.
//!
//! Throughput is per CPU second of this thread (Linux `/proc/thread-self/schedstat`), so a
//! busy machine slows the run but not the figures much; elsewhere it falls back to wall
//! time. Best of three runs.
//!
//! cargo run --release -p pqreg-spec --example compress_bench

use std::time::Instant;

/// A clock of this thread's CPU time when Linux offers one, else of wall time.
struct Clock(Instant);

impl Clock {
    fn start() -> Self {
        Clock(Instant::now())
    }

    fn cpu_ns() -> Option<u64> {
        let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        s.split_whitespace().next()?.parse().ok()
    }

    /// Seconds spent since `start` by `f`.
    fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
        let c0 = Self::cpu_ns();
        let w = Self::start();
        let out = f();
        let secs = match (c0, Self::cpu_ns()) {
            (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
            _ => w.0.elapsed().as_secs_f64(),
        };
        (out, secs)
    }
}

/// The smallest of three timings of `f`, and its last result.
fn best_of_3<T>(mut f: impl FnMut() -> T) -> (T, f64) {
    let (mut out, mut best) = Clock::time(&mut f);
    for _ in 0..2 {
        let (o, t) = Clock::time(&mut f);
        out = o;
        best = best.min(t);
    }
    (out, best)
}

use pqreg_spec::compress::{
    Decoder, Encoded, Encoder, Layout, MAX_SEGMENT, ZSTD_FLOAT_LEVEL, ZSTD_LEVEL,
};

fn normal(n: usize, sigma: f64, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        ((s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (next(), next());
            ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos() * sigma) as f32
        })
        .collect()
}

fn to_fp16(v: f32) -> u16 {
    // Round-to-nearest-even on normal numbers; flush subnormals (rare at sigma 0.02).
    let b = v.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    if exp <= 0 {
        return sign;
    }
    let mant = b & 0x7f_ffff;
    let mut h = ((exp.min(30) as u32) << 10) | (mant >> 13);
    let rest = mant & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) {
        h += 1;
    }
    sign | h.min(0x7bff) as u16
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const TOTAL: usize = 64 << 20; // plaintext bytes per layout
    let vals = normal(TOTAL / 2, 0.02, 42);
    let cases: Vec<(&str, Layout, Vec<u8>)> = vec![
        (
            "bf16",
            Layout::Bf16,
            vals.iter()
                .flat_map(|v| {
                    ((v.to_bits() + 0x7fff + ((v.to_bits() >> 16) & 1)) >> 16).to_le_bytes()[..2]
                        .to_vec()
                })
                .collect(),
        ),
        (
            "fp16",
            Layout::Fp16,
            vals.iter()
                .flat_map(|v| to_fp16(*v).to_le_bytes())
                .collect(),
        ),
        (
            "fp32",
            Layout::Fp32,
            vals[..TOTAL / 4]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
    ];
    println!(
        "synthetic weights ~N(0, 0.02), seed 42, {} MiB per dtype, 1 MiB segments; zstd-1: level {ZSTD_LEVEL} on whole segments; planes: level {ZSTD_FLOAT_LEVEL} with Huffman literals",
        TOTAL >> 20
    );
    println!(
        "{:<5} {:>10} {:>10} {:>12} {:>12} {:>12} {:>12}",
        "dtype", "zstd-1", "planes", "zstd MB/s c", "zstd MB/s d", "planes MB/s c", "planes MB/s d"
    );
    for (name, layout, data) in cases {
        // Plain zstd-1 per segment.
        let mut zc = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
        let (frames, zc_s) = best_of_3(|| {
            data.chunks(MAX_SEGMENT)
                .map(|s| zc.compress(s))
                .collect::<Result<Vec<_>, _>>()
        });
        let frames = frames?;
        let zlen: usize = frames.iter().map(Vec::len).sum();
        let mut zd = zstd::bulk::Decompressor::new()?;
        let (n, zd_s) = best_of_3(|| {
            let mut n = 0;
            for f in &frames {
                n += zd.decompress(f, MAX_SEGMENT).map(|v| v.len()).unwrap_or(0);
            }
            n
        });
        assert_eq!(n, data.len());

        // Byte planes.
        let mut enc = Encoder::new()?;
        let (bodies, pc_s) = best_of_3(|| {
            data.chunks(MAX_SEGMENT)
                .map(|s| {
                    let mut out = Vec::with_capacity(MAX_SEGMENT);
                    enc.encode(layout, s, &mut out).map(|e| (e, out))
                })
                .collect::<Result<Vec<_>, _>>()
        });
        let bodies = bodies?;
        let plen: usize = bodies.iter().map(|(_, b)| b.len()).sum();
        let mut dec = Decoder::new()?;
        let mut out = Vec::with_capacity(MAX_SEGMENT);
        let (back, pd_s) = best_of_3(|| {
            let mut back = 0;
            for (e, b) in &bodies {
                out.clear();
                match e {
                    Encoded::Planes => dec.decode(b, &mut out).map_or(0, |()| out.len()),
                    Encoded::Stored => {
                        out.extend_from_slice(b);
                        out.len()
                    }
                };
                back += out.len();
            }
            back
        });
        assert_eq!(back, data.len());
        let mb = data.len() as f64 / 1e6;
        println!(
            "{:<5} {:>9.3}x {:>9.3}x {:>12.0} {:>12.0} {:>12.0} {:>12.0}",
            name,
            data.len() as f64 / zlen as f64,
            data.len() as f64 / plen as f64,
            mb / zc_s,
            mb / zd_s,
            mb / pc_s,
            mb / pd_s
        );
    }
    Ok(())
}
