use super::*;

const MIB: u64 = 1 << 20;

/// A safetensors header for tensors of the given sizes and dtypes, laid out in order with
/// `gap` bytes before each; plus the file's length with `trailing` bytes after the last.
fn header_gaps(
    tensors: &[(&str, u64, &str)],
    metadata: &str,
    gap: u64,
    trailing: u64,
) -> (Vec<u8>, u64) {
    let mut at = 0;
    let mut entries = vec![format!("\"__metadata__\":{{\"note\":\"{metadata}\"}}")];
    for (name, size, dtype) in tensors {
        at += gap;
        let width = safetensors::Dtype::parse(dtype).map_or(1, |d| d.size());
        entries.push(format!(
            "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{at},{}]}}",
            size / width,
            at + size
        ));
        at += size;
    }
    let json = format!("{{{}}}", entries.join(","));
    let mut h = (json.len() as u64).to_le_bytes().to_vec();
    h.extend_from_slice(json.as_bytes());
    let len = h.len() as u64 + at + trailing;
    (h, len)
}

fn header(tensors: &[(&str, u64, &str)], metadata: &str) -> (Vec<u8>, u64) {
    header_gaps(tensors, metadata, 0, 0)
}

fn assert_tiles(p: &[Piece], len: u64) {
    let mut at = 0;
    for piece in p {
        assert_eq!(piece.offset, at, "{p:?}");
        assert!(piece.length > 0);
        at += piece.length;
    }
    assert_eq!(at, len);
}

#[test]
fn groups_small_and_splits_large() {
    let (h, len) = header(
        &[
            ("a", 10 * MIB, "BF16"),
            ("b", 20 * MIB, "BF16"),
            ("c", 40 * MIB, "BF16"),
            ("d", 150 * MIB, "F32"),
            ("e", MIB / 2, "I64"),
            ("f", MIB / 4, "BF16"),
            ("g", MIB, "BF16"),
        ],
        "v1",
    );
    let p = plan_safetensors(&h, len).unwrap();
    let lens: Vec<u64> = p.iter().map(|p| p.length * 4 / MIB).collect();
    // header, a, b, c, d in 64+64+22, e+f grouped (both under 1 MiB), g alone
    assert_eq!(lens, vec![0, 40, 80, 160, 256, 256, 88, 3, 4]);
    assert_eq!(p[0].length, h.len() as u64);
    assert_eq!(p[0].kind, PieceKind::Header);
    assert_eq!(p[1].layout, Layout::Bf16);
    assert_eq!(p[4].layout, Layout::Fp32);
    assert_eq!(p[4].kind, PieceKind::TensorPiece);
    assert_eq!(p[7].layout, Layout::Bytes);
    assert_eq!(p[8].layout, Layout::Bf16);
    assert_tiles(&p, len);
}

#[test]
fn header_change_keeps_tensor_chunks() {
    let t = [("a", 3 * MIB, "F16"), ("b", 70 * MIB, "F16")];
    let (h1, l1) = header(&t, "short");
    let (h2, l2) = header(&t, "a much longer metadata value");
    let p1 = plan_safetensors(&h1, l1).unwrap();
    let p2 = plan_safetensors(&h2, l2).unwrap();
    let rel = |p: &[Piece], h: u64| -> Vec<(u64, u64)> {
        p[1..].iter().map(|x| (x.offset - h, x.length)).collect()
    };
    assert_eq!(rel(&p1, h1.len() as u64), rel(&p2, h2.len() as u64));
}

/// spec/artifact.md §6: padding before the first tensor, between tensors and after the
/// last belongs to a tensor; the file stays tensor-aligned with its layouts.
#[test]
fn padded_safetensors_keep_tensor_chunks() {
    let t = [
        ("a", 2 * MIB, "BF16"),
        ("b", 2 * MIB, "F32"),
        ("c", 8, "F16"),
    ];
    for (gap, trailing) in [(4, 0), (3, 0), (0, 1), (4, 1)] {
        let (h, len) = header_gaps(&t, "m", gap, trailing);
        let p = plan_safetensors(&h, len).unwrap();
        assert_tiles(&p, len);
        let hl = h.len() as u64;
        let got: Vec<_> = p.iter().map(|p| (p.offset, p.length, p.layout)).collect();
        assert_eq!(
            got,
            [
                (0, hl, Layout::Bytes),
                // a owns the gap before it (from the data start) and up to b's start
                (hl, 2 * gap + 2 * MIB, Layout::Bf16),
                (hl + 2 * gap + 2 * MIB, 2 * MIB + gap, Layout::Fp32),
                (hl + 3 * gap + 4 * MIB, 8 + trailing, Layout::Fp16),
            ],
            "gap {gap} trailing {trailing}"
        );
    }
}

#[test]
fn refuses_malformed() {
    let (h, len) = header(&[("a", 12, "F32")], "x");
    assert!(matches!(
        plan_safetensors(&h[..h.len() - 1], len),
        Err(SafetensorsError::Incomplete { .. })
    ));
    assert!(matches!(
        plan_safetensors(&h, h.len() as u64 + 5),
        Err(SafetensorsError::PastEnd { .. })
    ));
    assert!(safetensors::header_len(b"\xff\xff\xff\xff\xff\xff\xff\xff", 1 << 40).is_err());
    assert!(safetensors::header_len(b"abc", 10).is_err());
    let mut bad = h.clone();
    let n = bad.len();
    bad[n - 2] = b'!';
    assert!(plan_safetensors(&bad, len).is_err());
    // Overlap is refused (the file is then an other file).
    let json = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    let mut f = (json.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(json.as_bytes());
    assert!(matches!(
        plan_safetensors(&f, f.len() as u64 + 8),
        Err(SafetensorsError::Overlap { .. })
    ));
}

/// A minimal GGUF v3 file builder (for the rule's unit tests; the client's tests use files
/// written by the `gguf` Python package).
fn gguf(
    tensors: &[(&str, &[u64], u32, u64)],
    alignment: Option<u32>,
    meta: &str,
) -> (Vec<u8>, u64) {
    let s = |out: &mut Vec<u8>, v: &str| {
        out.extend_from_slice(&(v.len() as u64).to_le_bytes());
        out.extend_from_slice(v.as_bytes());
    };
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(1 + u64::from(alignment.is_some())).to_le_bytes());
    s(&mut out, "general.name");
    out.extend_from_slice(&8u32.to_le_bytes());
    s(&mut out, meta);
    if let Some(a) = alignment {
        s(&mut out, "general.alignment");
        out.extend_from_slice(&4u32.to_le_bytes());
        out.extend_from_slice(&a.to_le_bytes());
    }
    let mut end = 0;
    for (name, dims, ty, offset) in tensors {
        s(&mut out, name);
        out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in *dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        let (_, _, block, bytes) = gguf::GGML_TYPES.iter().find(|t| t.0 == *ty).unwrap();
        end = end.max(offset + dims.iter().product::<u64>() / block * bytes);
    }
    let a = u64::from(alignment.unwrap_or(32));
    while !(out.len() as u64).is_multiple_of(a) {
        out.push(0);
    }
    let len = out.len() as u64 + end;
    (out, len)
}

#[test]
fn gguf_header_then_tensors() {
    // F32 2 MiB, Q4_0 (type 2) 1.125 MiB, BF16 64 B, F16 96 B (last two grouped).
    let t: [(&str, &[u64], u32, u64); 4] = [
        ("w", &[512 * 1024], 0, 0),
        ("q", &[64 * 1024, 32], 2, 2 * MIB),
        ("n1", &[32], 30, 2 * MIB + 1_179_648),
        ("n2", &[48], 1, 2 * MIB + 1_179_648 + 64),
    ];
    let (h, len) = gguf(&t, None, "tiny");
    let p = plan_gguf(&h, len).unwrap();
    assert_tiles(&p, len);
    let got: Vec<_> = p.iter().map(|p| (p.length, p.layout, p.kind)).collect();
    assert_eq!(
        got,
        [
            (h.len() as u64, Layout::Bytes, PieceKind::Header),
            (2 * MIB, Layout::Fp32, PieceKind::Tensors),
            (1_179_648, Layout::Bytes, PieceKind::Tensors),
            (160, Layout::Bytes, PieceKind::Tensors),
        ]
    );
    // A longer metadata value moves the data start but no tensor chunk.
    let (h2, len2) = gguf(&t, None, "a much longer model name, 40 bytes more");
    let p2 = plan_gguf(&h2, len2).unwrap();
    assert_ne!(h.len(), h2.len());
    let rel = |p: &[Piece], h: usize| -> Vec<_> {
        p[1..]
            .iter()
            .map(|x| (x.offset - h as u64, x.length, x.layout))
            .collect()
    };
    assert_eq!(rel(&p, h.len()), rel(&p2, h2.len()));
    // Alignment 64 pads the header to a multiple of 64.
    let (h3, len3) = gguf(&t[..1], Some(64), "x");
    let p3 = plan_gguf(&h3, len3).unwrap();
    assert_eq!(p3[0].length % 64, 0);
    assert_tiles(&p3, len3);
}

#[test]
fn gguf_refuses_malformed() {
    let t: [(&str, &[u64], u32, u64); 2] = [("a", &[8], 0, 0), ("b", &[8], 0, 32)];
    let (h, len) = gguf(&t, None, "m");
    assert!(plan_gguf(&h, len).is_ok());
    // Incomplete prefix asks for more; a short file is truncated.
    assert!(matches!(
        plan_gguf(&h[..40], len),
        Err(GgufError::Incomplete { .. })
    ));
    assert!(matches!(plan_gguf(&h, len - 1), Err(GgufError::PastEnd(_))));
    assert!(matches!(
        plan_gguf(&h[..40], 40),
        Err(GgufError::Truncated(40))
    ));
    // Overlap, misalignment, bad dims, duplicate names.
    type Tensors<'a> = &'a [(&'a str, &'a [u64], u32, u64)];
    let cases: [(Tensors, &str); 4] = [
        (&[("a", &[16], 0, 0), ("b", &[8], 0, 32)], "Overlap"),
        (&[("a", &[8], 0, 0), ("b", &[8], 0, 40)], "Misaligned"),
        (&[("a", &[33], 2, 0)], "BadDims"),
        (&[("a", &[8], 0, 0), ("a", &[8], 0, 32)], "DuplicateTensor"),
    ];
    for (t, want) in cases {
        let (h, len) = gguf(t, None, "m");
        let e = plan_gguf(&h, len).unwrap_err();
        assert!(format!("{e:?}").starts_with(want), "{t:?}: {e:?}");
    }
    // An unknown ggml type (5 was Q4_2, removed from ggml): the type field of tensor "b"
    // follows its name (8-byte length, 1 byte), n_dims (4) and one dimension (8).
    let mut unknown = h.clone();
    let pos = find(&unknown, b"\x01\x00\x00\x00\x00\x00\x00\x00b").unwrap() + 9 + 4 + 8;
    unknown[pos..pos + 4].copy_from_slice(&5u32.to_le_bytes());
    assert!(matches!(
        plan_gguf(&unknown, len),
        Err(GgufError::UnknownType { ggml_type: 5, .. })
    ));
    let mut big_endian = h.clone();
    big_endian[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert_eq!(
        plan_gguf(&big_endian, len),
        Err(GgufError::Version(3 << 24))
    );
    assert_eq!(
        plan_gguf(b"GGUX\x03\x00\x00\x00", len),
        Err(GgufError::Magic)
    );
    let (h, len) = gguf(&t, Some(24), "m");
    assert_eq!(plan_gguf(&h, len), Err(GgufError::BadAlignment));
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn check_tiles(prefix: &[u8], len: u64) {
        if let Ok(p) = plan_gguf(prefix, len) {
            assert_tiles(&p, len);
        }
        if let Ok(p) = plan_safetensors(prefix, len) {
            assert_tiles(&p, len);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Random bytes after a GGUF v3 preamble: no panic, and an accepted plan tiles.
        #[test]
        fn random_headers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600), extra in 0u64..5000) {
            let mut f = b"GGUF\x03\x00\x00\x00".to_vec();
            f.extend_from_slice(&body);
            check_tiles(&f, f.len() as u64 + extra);
            check_tiles(&body, body.len() as u64 + extra);
        }

        /// One byte of a valid GGUF or safetensors header changed: no panic, and an
        /// accepted plan still tiles the file.
        #[test]
        fn mutated_headers_never_panic(at in any::<prop::sample::Index>(), v in any::<u8>(), extra in 0u64..4) {
            let t: [(&str, &[u64], u32, u64); 3] =
                [("a", &[64], 0, 0), ("q", &[64], 8, 256), ("b", &[8], 30, 352)];
            let (mut g, len) = gguf(&t, None, "m");
            let i = at.index(g.len());
            g[i] = v;
            check_tiles(&g, len + extra);
            let (mut s, len) = header_gaps(&[("a", 64, "F32"), ("b", 16, "BF16")], "x", 3, 1);
            let i = at.index(s.len());
            s[i] = v;
            check_tiles(&s, len + extra);
        }
    }
}

/// An empty tensor that owns only padding gives its chunk no dtype layout.
#[test]
fn empty_tensor_owning_padding_is_bytes() {
    let (h, len) = header_gaps(&[("e", 0, "F32")], "m", 0, 2 * MIB);
    let p = plan_safetensors(&h, len).unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!((p[1].length, p[1].layout), (2 * MIB, Layout::Bytes));
    let (h, len) = header_gaps(&[("e", 0, "F32"), ("f", 8, "F32")], "m", 0, 0);
    let p = plan_safetensors(&h, len).unwrap();
    assert_eq!((p[1].length, p[1].layout), (8, Layout::Fp32));
}
