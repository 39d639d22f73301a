//! The `planes-zstd-v1` vectors of spec/artifact.md §8 (written by
//! `spec/examples/compress_vectors.rs`): tails for every width decode to their plaintext,
//! and only the one zstd frame form §8 allows is accepted.
#![allow(clippy::unwrap_used)]

use pqreg_spec::compress::{CompressError, decode};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn plane_tails_decode_for_every_width() {
    let doc = load("compress_plane_tails.json");
    let cases = doc["cases"].as_array().unwrap();
    let mut tails = std::collections::BTreeSet::new();
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let plaintext = hex(&c["plaintext"]);
        let planes: Vec<Vec<u8>> = c["planes"].as_array().unwrap().iter().map(hex).collect();
        let w = planes.len();
        let m = plaintext.len() / w;
        tails.insert((
            c["layout"].as_str().unwrap().to_owned(),
            plaintext.len() % w,
        ));
        // The tail follows the last plane's m bytes unchanged.
        assert_eq!(&planes[w - 1][m..], &plaintext[m * w..], "{name}");
        assert_eq!(decode(&hex(&c["body"])).unwrap(), plaintext, "{name}");
    }
    // bf16 and fp16 with tails 0 and 1, fp32 with tails 0 to 3.
    assert_eq!(tails.len(), 2 + 2 + 4);
}

#[test]
fn only_one_plain_frame_is_accepted() {
    let doc = load("compress_zstd_frames.json");
    let plaintext = hex(&doc["plaintext"]);
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 12);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let got = decode(&hex(&c["body"]));
        match c["expect"].as_str().unwrap() {
            "ok" => assert_eq!(got.unwrap(), plaintext, "{name}"),
            _ => assert!(
                matches!(got, Err(CompressError::Frame { plane: 0, .. })),
                "{name}: {got:?}"
            ),
        }
    }
}

/// The frames pqreg's encoder writes are of the allowed form (else its own pushes would
/// not decode): every zstd plane of shaped and random segments of many lengths.
#[test]
fn the_encoder_writes_allowed_frames() {
    use pqreg_spec::compress::{Encoded, Layout, encode};
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for n in [1usize, 2, 3, 5, 100, 4097, 65_537, 1 << 20] {
        // Low-entropy exponents, noisy mantissas: the float planes compress.
        let data: Vec<u8> = (0..n)
            .map(|i| {
                if i % 2 == 1 {
                    0x3c | (next() as u8 & 1)
                } else {
                    next() as u8
                }
            })
            .collect();
        for layout in Layout::ALL {
            let (enc, body) = encode(layout, &data).unwrap();
            if enc == Encoded::Planes {
                assert_eq!(decode(&body).unwrap(), data, "{layout:?} {n}");
            }
        }
        let zeros = vec![0u8; n];
        for layout in Layout::ALL {
            let (enc, body) = encode(layout, &zeros).unwrap();
            if n >= 4097 {
                assert_eq!(enc, Encoded::Planes, "{layout:?} {n}");
            }
            if enc == Encoded::Planes {
                assert_eq!(decode(&body).unwrap(), zeros);
            }
        }
    }
}

/// The store rule (spec/artifact.md §7): a `0x01` body that is not shorter than its
/// plaintext is refused, even when it is otherwise well formed (here: every plane raw,
/// which decoded fine before the rule was enforced).
#[test]
fn a_body_not_shorter_than_its_plaintext_is_refused() {
    // bf16, zflags 0, len 4, planes of 2 bytes each: 14 + 4 = 18 bytes for 4.
    let body = [
        1u8, 0, 4, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0x3f, 0x3f, 0x80, 0x00,
    ];
    assert_eq!(
        decode(&body),
        Err(CompressError::NotSmaller { body: 18, len: 4 })
    );
}
