#![no_main]
//! The chunking rule's header parsers (spec/artifact.md §6): safetensors and GGUF headers
//! never panic, and an accepted header plans chunks that tile the file exactly. The first
//! byte chooses how much data follows the header bytes.
use pqreg_spec::artifact::chunking::{Piece, plan_gguf, plan_safetensors};

fn tiles(p: &[Piece], len: u64) {
    let mut at = 0;
    for piece in p {
        assert_eq!(piece.offset, at);
        assert!(piece.length > 0);
        at += piece.length;
    }
    assert_eq!(at, len);
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&extra, header)) = data.split_first() else {
        return;
    };
    let len = header.len() as u64 + u64::from(extra) * 4099;
    if let Ok(p) = plan_gguf(header, len) {
        tiles(&p, len);
    }
    if let Ok(p) = plan_safetensors(header, len) {
        tiles(&p, len);
    }
});
