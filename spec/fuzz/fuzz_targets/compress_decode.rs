#![no_main]
//! `compress::decode` never panics and never returns more than a segment; a body the
//! encoder produced from the decoded bytes decodes to the same bytes.
use pqreg_spec::compress::{self, Encoded, Layout, MAX_SEGMENT};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(out) = compress::decode(data) {
        assert!(out.len() <= MAX_SEGMENT);
        let layout = Layout::ALL[data.first().map_or(0, |b| *b as usize % 4)];
        let (enc, body) = compress::encode(layout, &out).expect("decoded segment re-encodes");
        if enc == Encoded::Planes {
            assert_eq!(compress::decode(&body).expect("own body decodes"), out);
        } else {
            assert_eq!(body, out);
        }
    }
});
