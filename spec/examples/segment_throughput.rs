//! Measures seal/open throughput of the chunk segment format on 256 MiB, one core.
//!
//! Run by hand: `cargo run --release -p pqreg-spec --example segment_throughput`.

use std::io::{Read, Write};
use std::time::Instant;

use pqreg_spec::segment::{ChunkKey, OpenReader, SealWriter, ciphertext_len};

const TOTAL: usize = 256 << 20;

fn gbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e9
}

fn main() -> std::io::Result<()> {
    let key = ChunkKey::from_bytes([0x42; 32]);
    let plaintext: Vec<u8> = (0..TOTAL).map(|i| (i * 31 + (i >> 13)) as u8).collect();
    let cap = ciphertext_len(TOTAL as u64).unwrap_or(0) as usize;

    for round in 0..3 {
        let mut sealed = Vec::with_capacity(cap);
        let t = Instant::now();
        let mut w = SealWriter::new(&mut sealed, key.clone());
        // Feed in 256 KiB writes, as a file reader would.
        for piece in plaintext.chunks(256 << 10) {
            w.write_all(piece)?;
        }
        w.finish()?;
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
