#![no_main]
// Statement parser: never panics; what parses re-encodes to the same statement.
use pqreg_spec::statement::Statement;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Statement::from_json(data) {
        let again = Statement::from_json(&s.to_json()).expect("re-encoded statement parses");
        assert_eq!(again, s);
        assert!(s.check_resources(&s.resources).is_ok());
    }
});
