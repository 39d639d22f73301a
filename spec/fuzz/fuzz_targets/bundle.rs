#![no_main]
// Bundle and referrer-manifest parsers: never panic; a parsed bundle re-encodes to an
// equal bundle, and its structural log-entry check never panics.
use pqreg_spec::bundle::Bundle;
use pqreg_spec::bundle::referrer::ReferrerManifest;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(b) = Bundle::from_json(data) {
        let again = Bundle::from_json(&b.to_json()).expect("re-encoded bundle parses");
        assert_eq!(again, b);
        let _ = b.pqreg_log_entry();
        let _ = b.public_key_hint();
    }
    let _ = ReferrerManifest::from_json(data);
});
