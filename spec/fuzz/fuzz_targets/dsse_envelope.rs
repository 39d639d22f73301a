#![no_main]
// DSSE envelope parser: never panics; what parses re-encodes to an envelope that parses
// back equal.
use pqreg_spec::dsse::Envelope;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::from_json(data) {
        let again = Envelope::from_json(&env.to_json()).expect("re-encoded envelope parses");
        assert_eq!(again, env);
        let _ = pqreg_spec::dsse::pae(&env.payload_type, &env.payload);
    }
});
