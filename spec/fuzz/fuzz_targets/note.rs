#![no_main]
// Signed notes come from the network: parsing and verifying must never panic, and a note
// that parses formats back to the same bytes.
use pqreg_spec::note::{Note, VerifierKey};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(n) = Note::parse(data) {
        assert_eq!(n.to_bytes(), data);
        let k = VerifierKey::parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .expect("valid key");
        let _ = n.verify(&[k]);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(k) = VerifierKey::parse(s) {
            assert_eq!(VerifierKey::parse(&k.to_string()).expect("round trip"), k);
        }
    }
});
