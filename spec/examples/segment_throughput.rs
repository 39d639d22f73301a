//! Measures seal/open throughput of the chunk segment format on 256 MiB, one thread.
//!
//! Run by hand: `cargo run --release -p pqreg-spec --example segment_throughput [MODE]`,
//! MODE one of `all` (default: wall-clock GB/s of each), or `gen`, `raw`, `seal`, `open`,
//! `inplace`
//! (do only that, 4 times, for timing with `/usr/bin/time -f %U`: on a loaded machine the
//! CPU time of `seal` minus that of `gen` is the honest per-core cost).

use std::io::{Read, Write};
use std::time::Instant;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use pqreg_spec::segment::{
    ChunkKey, Codec, HEADER_LEN, OpenReader, SEGMENT_SIZE, SealWriter, ciphertext_len,
    seal_segment_in_place,
};

const TOTAL: usize = 256 << 20;
const ROUNDS: usize = 4;

fn gbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e9
}

/// AES-256-GCM in place on 1 MiB buffers, no framing: the primitive's own speed.
fn raw(buf: &mut [u8]) {
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &[0x42; 32]).unwrap_or_else(|_| unreachable!()),
    );
    for (i, seg) in buf.chunks_mut(SEGMENT_SIZE).enumerate() {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&(i as u64).to_be_bytes());
        let _ = key.seal_in_place_separate_tag(Nonce::assume_unique_for_key(n), Aad::empty(), seg);
    }
}

fn seal(key: &ChunkKey, plaintext: &[u8], out: &mut [u8]) -> std::io::Result<usize> {
    let mut w = SealWriter::new(std::io::Cursor::new(out), key.clone());
    // Feed in 256 KiB writes, as a file reader would.
    for piece in plaintext.chunks(256 << 10) {
        w.write_all(piece)?;
    }
    Ok(w.finish()?.position() as usize)
}

/// The in-place API on a caller-owned buffer: the plaintext is read into the buffer
/// behind the header space (the one copy a file read makes anyway), then sealed there.
fn seal_in_place(key: &ChunkKey, plaintext: &[u8], buf: &mut Vec<u8>) -> usize {
    let n = plaintext.len().div_ceil(SEGMENT_SIZE);
    let mut total = 0;
    for (i, seg) in plaintext.chunks(SEGMENT_SIZE).enumerate() {
        buf.clear();
        buf.resize(HEADER_LEN, 0);
        buf.extend_from_slice(seg);
        let _ = seal_segment_in_place(key, i as u64, i + 1 == n, Codec::STORED, buf);
        total += buf.len();
    }
    total
}

fn open(key: &ChunkKey, sealed: &[u8], out: &mut [u8]) -> std::io::Result<usize> {
    let mut r = OpenReader::new(sealed, key.clone());
    let mut n = 0usize;
    loop {
        let got = r.read(out)?;
        if got == 0 {
            return Ok(n);
        }
        n += got;
    }
}

fn main() -> std::io::Result<()> {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "all".to_owned());
    let key = ChunkKey::from_bytes(&[0x42; 32]);
    let mut plaintext: Vec<u8> = (0..TOTAL).map(|i| (i * 31 + (i >> 13)) as u8).collect();
    let cap = ciphertext_len(TOTAL as u64).unwrap_or(0) as usize;
    // Output buffers allocated and touched once, so page faults are not measured.
    let mut sealed = vec![1u8; cap];
    let mut out = vec![1u8; 256 << 10];
    if mode == "open" {
        seal(&key, &plaintext, &mut sealed)?;
    }
    let mut t;
    for round in 0..ROUNDS {
        match mode.as_str() {
            "gen" => {}
            "raw" => raw(&mut plaintext),
            "seal" => {
                seal(&key, &plaintext, &mut sealed)?;
            }
            "open" => {
                open(&key, &sealed, &mut out)?;
            }
            "inplace" => {
                let mut buf = Vec::with_capacity(SEGMENT_SIZE + 32);
                assert_eq!(seal_in_place(&key, &plaintext, &mut buf), cap);
            }
            _ => {
                let mut copy = plaintext.clone();
                t = Instant::now();
                raw(&mut copy);
                let raw_s = t.elapsed().as_secs_f64();
                t = Instant::now();
                assert_eq!(seal(&key, &plaintext, &mut sealed)?, cap);
                let seal_s = t.elapsed().as_secs_f64();
                t = Instant::now();
                assert_eq!(open(&key, &sealed, &mut out)?, TOTAL);
                let open_s = t.elapsed().as_secs_f64();
                println!(
                    "round {round}: raw AES-256-GCM {:.2} GB/s, seal {:.2} GB/s, open {:.2} GB/s",
                    gbps(TOTAL, raw_s),
                    gbps(TOTAL, seal_s),
                    gbps(TOTAL, open_s),
                );
            }
        }
    }
    Ok(())
}
