use proptest::prelude::*;

use super::*;

/// Deterministic N(0, sigma) samples (xorshift64* + Box-Muller), so tests need no RNG
/// crate and every run sees the same data.
fn normal(n: usize, sigma: f64, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        ((s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (next(), next());
            ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos() * sigma) as f32
        })
        .collect()
}

fn bf16_bytes(vals: &[f32]) -> Vec<u8> {
    vals.iter()
        .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
        .collect()
}

fn fp32_bytes(vals: &[f32]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn fp16_bytes(vals: &[f32]) -> Vec<u8> {
    // Truncating conversion is enough for shaped test data.
    vals.iter()
        .flat_map(|v| {
            let b = v.to_bits();
            let sign = ((b >> 16) & 0x8000) as u16;
            let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
            let h = if exp <= 0 {
                sign
            } else {
                sign | ((exp.min(30) as u16) << 10) | ((b >> 13) & 0x3ff) as u16
            };
            h.to_le_bytes()
        })
        .collect()
}

fn round_trip(layout: Layout, data: &[u8]) -> Encoded {
    let (enc, body) = encode(layout, data).unwrap();
    match enc {
        Encoded::Stored => assert_eq!(body, data),
        Encoded::Planes => {
            assert!(body.len() < data.len());
            assert_eq!(decode(&body).unwrap(), data);
        }
    }
    enc
}

#[test]
fn shaped_weights_compress_and_round_trip() {
    let vals = normal(MAX_SEGMENT / 2, 0.02, 7);
    let bf16 = bf16_bytes(&vals);
    assert_eq!(round_trip(Layout::Bf16, &bf16), Encoded::Planes);
    let (_, body) = encode(Layout::Bf16, &bf16).unwrap();
    let h = Header::parse(&body).unwrap();
    // Exponent plane compressed, sign|mantissa plane stored raw.
    assert_eq!(h.zstd, vec![true, false]);
    let ratio = bf16.len() as f64 / body.len() as f64;
    assert!(ratio > 1.3, "bf16 ratio {ratio}");
    let vals = normal(MAX_SEGMENT / 4, 0.02, 8);
    assert_eq!(
        round_trip(Layout::Fp32, &fp32_bytes(&vals)),
        Encoded::Planes
    );
    let vals = normal(MAX_SEGMENT / 2, 0.02, 9);
    assert_eq!(
        round_trip(Layout::Fp16, &fp16_bytes(&vals)),
        Encoded::Planes
    );
}

#[test]
fn edge_sizes_round_trip() {
    let vals = normal(MAX_SEGMENT / 2, 0.02, 1);
    let bf16 = bf16_bytes(&vals);
    for layout in Layout::ALL {
        for n in [0, 1, 2, 3, 5, 7, 1001, 4097, MAX_SEGMENT - 1, MAX_SEGMENT] {
            round_trip(layout, &bf16[..n]);
            round_trip(layout, &vec![0u8; n]);
        }
    }
}

#[test]
fn zeros_compress_and_tail_survives() {
    let mut data = vec![0u8; 4099];
    data[4098] = 0xab;
    for layout in Layout::ALL {
        let (enc, body) = encode(layout, &data).unwrap();
        assert_eq!(enc, Encoded::Planes);
        assert_eq!(decode(&body).unwrap(), data);
    }
}

#[test]
fn too_long_is_refused() {
    let data = vec![0u8; MAX_SEGMENT + 1];
    assert_eq!(
        encode(Layout::Bytes, &data).unwrap_err(),
        CompressError::SegmentTooLong(MAX_SEGMENT + 1)
    );
}

fn good_body() -> Vec<u8> {
    let vals = normal(4096, 0.02, 3);
    let (enc, body) = encode(Layout::Bf16, &bf16_bytes(&vals)).unwrap();
    assert_eq!(enc, Encoded::Planes);
    body
}

#[test]
fn corrupted_headers_are_refused() {
    let body = good_body();
    let mut b = body.clone();
    b[0] = 9;
    assert_eq!(decode(&b).unwrap_err(), CompressError::UnknownLayout(9));
    let mut b = body.clone();
    b[1] |= 0x04;
    assert!(matches!(decode(&b), Err(CompressError::BadFlags(_))));
    let mut b = body.clone();
    b[2..6].copy_from_slice(&(MAX_SEGMENT as u32 + 1).to_le_bytes());
    assert!(matches!(decode(&b), Err(CompressError::TooLarge(_))));
    assert!(matches!(
        decode(&body[..body.len() - 1]),
        Err(CompressError::BodyLength { .. })
    ));
    let mut b = body.clone();
    b.push(0);
    assert!(matches!(decode(&b), Err(CompressError::BodyLength { .. })));
    assert!(matches!(
        decode(&body[..5]),
        Err(CompressError::Truncated("header"))
    ));
    assert!(matches!(
        decode(&body[..9]),
        Err(CompressError::Truncated("plane lengths"))
    ));
    // Claiming one value less than the planes hold: the zstd plane's content size no
    // longer matches (checked before decoding), nor would the raw plane.
    let mut b = body.clone();
    let len = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    b[2..6].copy_from_slice(&(len - 2).to_le_bytes());
    assert!(matches!(
        decode(&b),
        Err(CompressError::Frame { plane: 0, .. })
    ));
    // A flipped bit inside the zstd frame: an error, never a panic or a wrong length.
    let mut b = body;
    b[20] ^= 0x10;
    if let Ok(out) = decode(&b) {
        assert_eq!(out.len(), 8192);
    }
}

#[test]
fn zip_bomb_is_refused() {
    // A header promising 4096 bytes, whose one zstd plane inflates to 1 MiB of zeros:
    // refused by its content size before decoding.
    let bomb = zstd::bulk::compress(&vec![0u8; MAX_SEGMENT], 19).unwrap();
    let h = Header {
        layout: Layout::Bytes,
        len: 4096,
        zstd: vec![true],
        stored_len: vec![bomb.len() as u32],
    };
    let mut body = h.encode();
    body.extend_from_slice(&bomb);
    let mut out = b"kept".to_vec();
    let err = Decoder::new().unwrap().decode(&body, &mut out).unwrap_err();
    assert!(matches!(err, CompressError::Frame { .. }), "{err:?}");
    assert_eq!(out, b"kept", "output untouched on error");
}

#[test]
fn header_round_trips() {
    let h = Header {
        layout: Layout::Fp32,
        len: 1000,
        zstd: vec![true, true, false, false],
        stored_len: vec![10, 20, 250, 250],
    };
    let mut b = h.encode();
    assert_eq!(b.len(), Header::encoded_len(Layout::Fp32));
    b.resize(b.len() + 530, 0);
    assert_eq!(Header::parse(&b).unwrap(), h);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_bytes_round_trip(data in proptest::collection::vec(any::<u8>(), 0..20_000), l in 0usize..4) {
        round_trip(Layout::ALL[l], &data);
    }

    #[test]
    fn shaped_round_trip(n in 0usize..30_000, seed in any::<u64>(), l in 0usize..4, cut in 0usize..4) {
        let vals = normal(n / 4 + 1, 0.02, seed);
        let mut data = match Layout::ALL[l] {
            Layout::Fp32 => fp32_bytes(&vals),
            Layout::Fp16 => fp16_bytes(&vals),
            _ => bf16_bytes(&vals),
        };
        data.truncate(data.len().saturating_sub(cut));
        round_trip(Layout::ALL[l], &data);
    }

    #[test]
    fn decode_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(out) = decode(&body) {
            prop_assert!(out.len() <= MAX_SEGMENT);
        }
    }
}

#[test]
fn known_answer_vectors() {
    #[derive(serde::Deserialize)]
    struct V {
        body: String,
        plaintext: Option<String>,
    }
    let ok: V =
        serde_json::from_str(include_str!("../../../testdata/compress_bf16_planes.json")).unwrap();
    let body = hex::decode(ok.body).unwrap();
    let want = hex::decode(ok.plaintext.unwrap()).unwrap();
    assert_eq!(decode(&body).unwrap(), want);
    assert_eq!(Header::parse(&body).unwrap().zstd, vec![true, false]);

    let bomb: V =
        serde_json::from_str(include_str!("../../../testdata/compress_bomb.json")).unwrap();
    let err = decode(&hex::decode(bomb.body).unwrap()).unwrap_err();
    assert!(
        matches!(
            err,
            CompressError::NotSmaller { .. }
                | CompressError::Frame { .. }
                | CompressError::Zstd { .. }
                | CompressError::PlaneLength { .. }
        ),
        "{err:?}"
    );
}
