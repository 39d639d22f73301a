#![no_main]
// Placeholder: replaced by the target for this parser.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = data;
});
