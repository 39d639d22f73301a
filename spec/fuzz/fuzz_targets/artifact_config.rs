#![no_main]
//! `artifact::Config::from_json`; what parses must re-encode to an equal config.
use pqreg_spec::artifact::Config;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Config::from_json(data) {
        assert_eq!(Config::from_json(&c.to_json()).expect("re-encoded config parses"), c);
    }
});
