//! Measures seal/open throughput of the chunk segment format on 256 MiB, one core.
//!
//! Run by hand: `cargo run --release -p pqreg-spec --example segment_throughput`.

use std::io::{Read, Write};
use std::time::Instant;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use pqreg_spec::segment::{ChunkKey, OpenReader, SEGMENT_SIZE, SealWriter, ciphertext_len};

const TOTAL: usize = 256 << 20;

fn gbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e9
}

fn main() -> std::io::Result<()> {
    let key = ChunkKey::from_bytes([0x42; 32]);
    let plaintext: Vec<u8> = (0..TOTAL).map(|i| (i * 31 + (i >> 13)) as u8).collect();
    let cap = ciphertext_len(TOTAL as u64).unwrap_or(0) as usize;

    // Output buffer allocated and touched once, so page faults are not measured.
    let mut sealed = vec![0u8; cap];
    sealed.fill(1);

    // Baseline: AES-256-GCM in place on 1 MiB buffers, no framing.
    let raw = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &[0x42; 32]).unwrap_or_else(|_| unreachable!()),
    );
    let mut buf = plaintext.clone();
    for _ in 0..2 {
        let t = Instant::now();
        for (i, seg) in buf.chunks_mut(SEGMENT_SIZE).enumerate() {
            let mut n = [0u8; 12];
            n[4..].copy_from_slice(&(i as u64).to_be_bytes());
            let _ =
                raw.seal_in_place_separate_tag(Nonce::assume_unique_for_key(n), Aad::empty(), seg);
        }
        println!(
            "raw aws-lc-rs AES-256-GCM seal in place: {:.2} GB/s",
            gbps(TOTAL, t.elapsed().as_secs_f64())
        );
    }

    for round in 0..3 {
        let t = Instant::now();
        let mut w = SealWriter::new(std::io::Cursor::new(sealed.as_mut_slice()), key.clone());
        // Feed in 256 KiB writes, as a file reader would.
        for piece in plaintext.chunks(256 << 10) {
            w.write_all(piece)?;
        }
        let len = w.finish()?.position() as usize;
        assert_eq!(len, cap);
        let seal_s = t.elapsed().as_secs_f64();

        let mut out = vec![0u8; 256 << 10];
        let mut n = 0usize;
        let t = Instant::now();
        let mut r = OpenReader::new(sealed.as_slice(), key.clone());
        loop {
            let got = r.read(&mut out)?;
            if got == 0 {
                break;
            }
            n += got;
        }
        let open_s = t.elapsed().as_secs_f64();
        assert_eq!(n, TOTAL);
        println!(
            "round {round}: seal {:.2} GB/s, open {:.2} GB/s ({} MiB, {} bytes sealed)",
            gbps(TOTAL, seal_s),
            gbps(TOTAL, open_s),
            TOTAL >> 20,
            sealed.len()
        );
    }
    Ok(())
}
