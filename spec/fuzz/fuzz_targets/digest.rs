#![no_main]
// Digest strings come from URLs and JSON; parsing must never panic, and whatever parses
// must print back to the same string.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(d) = s.parse::<pqreg_spec::Digest>() {
            assert_eq!(d.to_string(), s);
        }
    }
});
