#![no_main]
// Checkpoint bodies come from the network: parsing must never panic, and a body that parses
// formats back to the same text.
use pqreg_spec::checkpoint::Checkpoint;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(c) = Checkpoint::parse_body(s) {
            assert_eq!(c.to_body(), s);
        }
    }
});
