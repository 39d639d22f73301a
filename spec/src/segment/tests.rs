use super::*;

fn key() -> ChunkKey {
    ChunkKey::from_bytes(&[7u8; 32])
}

#[test]
fn round_trip_small() {
    let k = key();
    for len in [0usize, 1, 100] {
        let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let ct = seal(&k, &pt);
        assert_eq!(ct.len() as u64, ciphertext_len(len as u64).unwrap());
        assert_eq!(open(&k, &ct).unwrap(), pt);
    }
}

#[test]
fn length_formulas() {
    let s = SEGMENT_SIZE as u64;
    for p in [0, 1, s - 1, s, s + 1, 2 * s, 5 * s + 3] {
        let c = ciphertext_len(p).unwrap();
        assert_eq!(plaintext_len(c).unwrap(), p, "p={p}");
    }
    for c in [0u64, 1, 21, s + 23, s + 22 + 22] {
        assert!(plaintext_len(c).is_err(), "c={c}");
    }
}

#[test]
fn nonce_layout() {
    let n = segment_nonce(0x0102, true);
    assert_eq!(hex::encode(n), "000000000000000000010201");
}

#[test]
fn padme_rounds_up_little_and_is_a_fixed_point() {
    let mut prev = 0;
    for len in (0..5000u64).chain([1 << 20, (1 << 20) + 1, (1 << 30) - 1, 1 << 30]) {
        let p = super::padme(len);
        assert!(p >= len, "{len}");
        assert_eq!(
            super::padme(p),
            p,
            "padme({len}) = {p} is not a fixed point"
        );
        if len >= 16 {
            // Under 1/8 for 16 bytes and more (spec/encryption.md §6.5).
            assert!((p - len) * 8 < len, "{len} -> {p}");
        }
        if len < 5000 {
            assert!(p >= prev, "not monotonic at {len}");
            prev = p;
        }
    }
    assert_eq!(super::padme(u64::MAX), u64::MAX);
}
