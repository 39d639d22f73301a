#![no_main]
//! Every manifest media type through `oci::references`; what parses as an OCI manifest or
//! index must survive re-encoding.
use pqreg_spec::oci::{self, ImageIndex, ImageManifest, media_types};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for mt in [
        media_types::OCI_MANIFEST,
        media_types::OCI_INDEX,
        media_types::DOCKER_MANIFEST,
        media_types::DOCKER_MANIFEST_LIST,
    ] {
        let _ = oci::references(data, mt);
    }
    let _ = oci::sniff_media_type(data);
    if let Ok(m) = ImageManifest::from_json(data) {
        let again = ImageManifest::from_json(&m.to_json()).expect("re-encoded manifest parses");
        assert_eq!(again, m);
    }
    if let Ok(i) = ImageIndex::from_json(data) {
        let again = ImageIndex::from_json(&i.to_json()).expect("re-encoded index parses");
        assert_eq!(again, i);
    }
});
