#![no_main]
// Opens arbitrary bytes as a sealed chunk, as one record, and as an unencrypted chunk:
// every outcome is an error or plaintext, never a panic.
use std::io::Read;

use pqreg_spec::segment::{self, ChunkKey, OpenReader};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let key = ChunkKey::from_bytes(&[0x5a; 32]);
    let _ = segment::open(&key, data);
    let _ = segment::open_segment(&key, 0, true, data);
    let _ = segment::parse_unencrypted_segment(0, true, data);
    let _ = segment::plaintext_len(data.len() as u64);
    let mut out = Vec::new();
    if OpenReader::unencrypted(data).read_to_end(&mut out).is_ok() {
        // Unencrypted records re-encode to the same bytes.
        let mut w = segment::SealWriter::unencrypted(Vec::new());
        std::io::Write::write_all(&mut w, &out).ok();
        if let Ok(again) = w.finish() {
            assert_eq!(again, data);
        }
    }
});
