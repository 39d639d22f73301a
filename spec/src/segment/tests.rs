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
