#![no_main]
//! `artifact::Index::from_json` and the model-manifest checks; what parses must re-encode
//! to an equal document.
use pqreg_spec::artifact::{Index, ModelManifest};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(i) = Index::from_json(data) {
        assert_eq!(Index::from_json(&i.to_json()).expect("re-encoded index parses"), i);
        let _ = i.layers();
    }
    if let Ok(m) = ModelManifest::from_json(data) {
        let _ = m.chunk_layers();
        let _ = m.index_layer();
    }
});
