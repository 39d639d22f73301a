#![no_main]
// Tile paths come from URLs, tiles and entry bundles from storage or the network: parsing
// must never panic, and whatever parses re-encodes to the same bytes.
use pqreg_spec::tile::{self, TilePath};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(p) = TilePath::parse(s) {
            assert_eq!(p.path(), s);
        }
    }
    let width = u16::from(data.first().copied().unwrap_or(0)) + 1;
    let body = data.get(1..).unwrap_or_default();
    if let Ok(entries) = tile::parse_entry_bundle(body, width) {
        assert_eq!(tile::encode_entry_bundle(&entries).expect("re-encodes"), body);
    }
    if let Ok(hashes) = tile::parse_tile(body, width) {
        assert_eq!(tile::encode_tile(&hashes).expect("re-encodes"), body);
    }
});
