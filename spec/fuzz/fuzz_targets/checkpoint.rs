#![no_main]
// Checkpoint bodies and offline proof files (spec/transparency-log.md §11) come from the
// network or from other people: parsing must never panic, and what parses formats back
// to the same bytes.
use pqreg_spec::checkpoint::Checkpoint;
use pqreg_spec::checkpoint::proof::ProofFile;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(c) = Checkpoint::parse_body(s) {
            assert_eq!(c.to_body(), s);
        }
    }
    if let Ok(p) = ProofFile::parse(data) {
        assert_eq!(p.encode(), data);
    }
});
