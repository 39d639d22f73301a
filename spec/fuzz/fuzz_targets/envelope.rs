#![no_main]
// Parses arbitrary bytes as a key envelope; whatever parses must re-encode to an envelope
// that parses to the same value.
use pqreg_spec::envelope::KeyEnvelope;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(env) = KeyEnvelope::from_json(data) {
        let again = KeyEnvelope::from_json(&env.to_json());
        assert_eq!(again.ok().as_ref(), Some(&env));
    }
});
