#![no_main]
// Log entries come from entry bundles and search results: parsing must never panic, and an
// entry that parses has exactly the bytes it re-encodes to (one entry, one leaf hash).
use pqreg_spec::logentry::LogEntry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(e) = LogEntry::parse(data) {
        assert_eq!(e.encode().expect("re-encodes"), data);
    }
});
