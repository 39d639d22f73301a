//! Chunk segment sealing (spec/encryption.md §6): round trips at every size around the
//! segment boundaries, and one negative test per failure, each asserting its variant.

// Test helpers panic on bad fixtures by design; clippy.toml only exempts #[test] fns.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};

use pqreg_spec::envelope::ContentSecret;
use pqreg_spec::segment::{
    ChunkKey, Codec, HEADER_LEN, OpenReader, SEGMENT_SIZE, SealWriter, SegmentCodec, SegmentError,
    TAG_LEN, ciphertext_len, open, open_segment, parse_unencrypted_segment, plaintext_len, seal,
    seal_segment, segment_count, segment_offset, unencrypted_len,
};
use proptest::prelude::*;

const S: usize = SEGMENT_SIZE;
const REC: usize = S + HEADER_LEN + TAG_LEN;

fn key() -> ChunkKey {
    ChunkKey::from_bytes(&[0x5a; 32])
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

fn err(ct: &[u8]) -> SegmentError {
    open(&key(), ct).unwrap_err()
}

#[test]
fn round_trip_at_segment_boundaries() {
    let k = key();
    for len in [0, 1, S - 1, S, S + 1, 2 * S - 1, 2 * S, 2 * S + 1] {
        let pt = data(len, 3);
        let ct = seal(&k, &pt);
        assert_eq!(
            ct.len() as u64,
            ciphertext_len(len as u64).unwrap(),
            "len {len}"
        );
        assert_eq!(plaintext_len(ct.len() as u64).unwrap(), len as u64);
        assert_eq!(open(&k, &ct).unwrap(), pt, "len {len}");
        // Every record but the last is full and marked not-last; the last is marked last.
        let n = segment_count(len as u64) as usize;
        for i in 0..n {
            let flags = ct[i * REC + 1];
            assert_eq!(flags, u8::from(i == n - 1), "len {len} record {i}");
        }
    }
}

#[test]
fn chunk_keys_are_fresh_and_the_index_key_is_the_secrets() {
    // Every sealing draws its own key: the same chunk sealed twice gives two blobs, so no
    // key and nonce ever seal two byte strings (spec/encryption.md §5.2).
    let pt = data(S + 10, 1);
    let a = ChunkKey::generate().unwrap();
    let b = ChunkKey::generate().unwrap();
    assert_ne!(a, b);
    assert_ne!(seal(&a, &pt), seal(&b, &pt));
    // The index key is a function of the content secret alone, and differs per secret.
    let s1 = ContentSecret::from_bytes(&[1; 32]);
    let i1 = ChunkKey::index_key(&s1);
    assert_eq!(
        i1,
        ChunkKey::index_key(&ContentSecret::from_bytes(&[1; 32]))
    );
    assert_ne!(
        i1,
        ChunkKey::index_key(&ContentSecret::from_bytes(&[2; 32]))
    );
    // Domain separation: the index key is not the (public) commitment.
    assert_ne!(i1.as_bytes(), &s1.commitment());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn round_trip_random_sizes_and_writes(len in 0usize..(2 * S + 5000), piece in 1usize..300_000, seed: u8) {
        let k = key();
        let pt = data(len, seed);
        let mut w = SealWriter::new(Vec::new(), k.clone());
        for p in pt.chunks(piece) {
            w.write_all(p).unwrap();
        }
        let ct = w.finish().unwrap();
        prop_assert_eq!(&ct, &seal(&k, &pt));
        let mut r = OpenReader::new(ct.as_slice(), k);
        let mut out = Vec::new();
        let mut buf = vec![0u8; piece];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 { break; }
            out.extend_from_slice(&buf[..n]);
        }
        prop_assert_eq!(out, pt);
    }

    #[test]
    fn any_flipped_bit_is_rejected(len in 0usize..3000, bit in 0usize..100_000) {
        let ct = seal(&key(), &data(len, 9));
        let bit = bit % (ct.len() * 8);
        let mut bad = ct.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let e = err(&bad);
        // A flipped bit in the tag, body, codec or last flag fails the tag; in the length or
        // reserved flag bits it breaks the framing first.
        let ok = matches!(e, SegmentError::BadTag { index: 0 })
            || (bit / 8 == 1 && matches!(e, SegmentError::BadHeader { .. }))
            || (bit / 8 >= 2 && bit / 8 < HEADER_LEN
                && matches!(e, SegmentError::Truncated { .. } | SegmentError::TrailingData { .. } | SegmentError::BadHeader { .. }));
        prop_assert!(ok, "bit {} -> {:?}", bit, e);
    }
}

#[test]
fn flipped_body_bit_in_a_middle_segment_is_bad_tag() {
    let mut ct = seal(&key(), &data(2 * S + 7, 4));
    ct[REC + HEADER_LEN + 1234] ^= 0x10;
    assert_eq!(err(&ct), SegmentError::BadTag { index: 1 });
}

#[test]
fn truncated_at_a_segment_boundary() {
    let ct = seal(&key(), &data(2 * S + 7, 4));
    // Two full records: the last one is missing.
    assert_eq!(err(&ct[..2 * REC]), SegmentError::Truncated { index: 2 });
    assert_eq!(err(&ct[..REC]), SegmentError::Truncated { index: 1 });
    assert_eq!(err(&[]), SegmentError::Truncated { index: 0 });
    // Cut inside a record.
    assert_eq!(err(&ct[..REC + 100]), SegmentError::Truncated { index: 1 });
    assert_eq!(
        err(&ct[..ct.len() - 1]),
        SegmentError::Truncated { index: 2 }
    );
}

#[test]
fn dropped_last_segment_of_an_exact_multiple() {
    // 2 MiB: two full records, the second flagged last. Dropping it leaves one non-last.
    let ct = seal(&key(), &data(2 * S, 5));
    assert_eq!(ct.len(), 2 * REC);
    assert_eq!(err(&ct[..REC]), SegmentError::Truncated { index: 1 });
}

#[test]
fn reordered_segments_fail_their_tag() {
    let ct = seal(&key(), &data(3 * S, 6));
    let mut swapped = Vec::new();
    swapped.extend_from_slice(&ct[REC..2 * REC]);
    swapped.extend_from_slice(&ct[..REC]);
    swapped.extend_from_slice(&ct[2 * REC..]);
    assert_eq!(err(&swapped), SegmentError::BadTag { index: 0 });
    // A duplicated record.
    let mut dup = Vec::new();
    dup.extend_from_slice(&ct[..REC]);
    dup.extend_from_slice(&ct[..REC]);
    dup.extend_from_slice(&ct[2 * REC..]);
    assert_eq!(err(&dup), SegmentError::BadTag { index: 1 });
}

#[test]
fn trailing_data_after_the_last_segment() {
    for len in [0, 10, S] {
        let mut ct = seal(&key(), &data(len, 7));
        ct.push(0);
        let last = segment_count(len as u64) - 1;
        assert_eq!(err(&ct), SegmentError::TrailingData { index: last });
    }
    // A whole second chunk appended.
    let one = seal(&key(), b"abc");
    let two = [one.clone(), one].concat();
    assert_eq!(err(&two), SegmentError::TrailingData { index: 0 });
}

#[test]
fn wrong_key_is_bad_tag() {
    let ct = seal(&key(), &data(100, 8));
    let other = ChunkKey::from_bytes(&[0x5b; 32]);
    assert_eq!(
        open(&other, &ct).unwrap_err(),
        SegmentError::BadTag { index: 0 }
    );
}

#[test]
fn cleared_last_flag_fails() {
    // Flip the last flag off (and nothing else): the tag binds it via the nonce and AAD.
    let mut ct = seal(&key(), &data(100, 8));
    ct[1] = 0;
    assert_eq!(err(&ct), SegmentError::BadTag { index: 0 });
}

#[test]
fn bad_headers() {
    let mut ct = seal(&key(), &data(100, 8));
    ct[1] |= 0x80;
    assert!(matches!(err(&ct), SegmentError::BadHeader { index: 0, .. }));
    let mut ct = seal(&key(), &data(100, 8));
    ct[2..6].copy_from_slice(&((S as u32) + 1).to_be_bytes());
    assert!(matches!(err(&ct), SegmentError::BadHeader { index: 0, .. }));
}

#[test]
fn short_non_last_segment_is_refused() {
    // A validly sealed record that is not last but shorter than 1 MiB.
    let k = key();
    let mut ct = seal_segment(&k, 0, false, Codec::STORED, b"short").unwrap();
    ct.extend(seal_segment(&k, 1, true, Codec::STORED, b"end").unwrap());
    assert_eq!(
        open(&k, &ct).unwrap_err(),
        SegmentError::SegmentLength { index: 0, len: 5 }
    );
    // An empty last segment after the first.
    let mut ct = seal_segment(&k, 0, false, Codec::STORED, &data(S, 1)).unwrap();
    ct.extend(seal_segment(&k, 1, true, Codec::STORED, b"").unwrap());
    assert_eq!(
        open(&k, &ct).unwrap_err(),
        SegmentError::SegmentLength { index: 1, len: 0 }
    );
}

#[test]
fn unknown_codec_is_refused_by_the_stored_reader() {
    let k = key();
    let ct = seal_segment(&k, 0, true, Codec(0x42), b"zzz").unwrap();
    assert_eq!(
        open(&k, &ct).unwrap_err(),
        SegmentError::UnknownCodec {
            index: 0,
            codec: 0x42
        }
    );
}

#[test]
fn random_access_opens_one_record() {
    let k = key();
    let pt = data(3 * S + 99, 2);
    let ct = seal(&k, &pt);
    for i in 0..4u64 {
        let start = segment_offset(i).unwrap() as usize;
        let end = (start + REC).min(ct.len());
        let seg = open_segment(&k, i, i == 3, &ct[start..end]).unwrap();
        assert_eq!(seg.codec, Codec::STORED);
        let p0 = i as usize * S;
        assert_eq!(seg.body, &pt[p0..(p0 + S).min(pt.len())]);
    }
    // The wrong index fails the tag; the wrong last expectation is refused up front.
    assert_eq!(
        open_segment(&k, 2, false, &ct[REC..2 * REC]).unwrap_err(),
        SegmentError::BadTag { index: 2 }
    );
    assert!(matches!(
        open_segment(&k, 1, true, &ct[REC..2 * REC]).unwrap_err(),
        SegmentError::LastFlagMismatch { index: 1, .. }
    ));
    assert!(matches!(
        open_segment(&k, 1, false, &ct[REC..2 * REC - 1]).unwrap_err(),
        SegmentError::RecordLength { index: 1, .. }
    ));
}

#[test]
fn seal_segment_refuses_oversized_bodies() {
    assert_eq!(
        seal_segment(&key(), 0, true, Codec::STORED, &vec![0; S + 1]).unwrap_err(),
        SegmentError::BodyTooLong(S + 1)
    );
}

#[test]
fn io_errors_carry_the_segment_error() {
    let mut ct = seal(&key(), b"hello");
    ct.push(1);
    let mut r = OpenReader::new(ct.as_slice(), key());
    let e = r.read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(
        SegmentError::from_io(&e),
        Some(&SegmentError::TrailingData { index: 0 })
    );
}

/// A toy codec (run-length of a repeated byte) to check that codecs compose with sealing.
struct Rle;

impl SegmentCodec for Rle {
    fn encode(&mut self, pt: &[u8], out: &mut Vec<u8>) -> Codec {
        if !pt.is_empty() && pt.iter().all(|&b| b == pt[0]) {
            out.push(pt[0]);
            out.extend_from_slice(&(pt.len() as u32).to_be_bytes());
            Codec(0x7f)
        } else {
            out.extend_from_slice(pt);
            Codec::STORED
        }
    }

    fn decode(
        &mut self,
        index: u64,
        codec: Codec,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SegmentError> {
        let bad = |reason: &str| SegmentError::Decode {
            index,
            codec: codec.0,
            reason: reason.to_owned(),
        };
        if codec != Codec(0x7f) || body.len() != 5 {
            return Err(bad("not rle"));
        }
        let n = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        if n > SEGMENT_SIZE {
            return Err(bad("too long"));
        }
        out.resize(n, body[0]);
        Ok(())
    }
}

#[test]
fn codec_composes_with_sealing_and_unencrypted_mode() {
    let mut pt = vec![7u8; S];
    pt.extend(data(1000, 1));
    for key in [Some(key()), None] {
        let encrypted = key.is_some();
        let mut w = SealWriter::with_codec(Vec::new(), key.clone(), Rle);
        w.write_all(&pt).unwrap();
        let ct = w.finish().unwrap();
        // First record: 5-byte rle body; second: 1000 stored bytes.
        let tag = if encrypted { TAG_LEN } else { 0 };
        assert_eq!(ct.len(), 2 * HEADER_LEN + 5 + 1000 + 2 * tag);
        assert_eq!(ct[0], 0x7f);
        let mut out = Vec::new();
        OpenReader::with_codec(ct.as_slice(), key.clone(), Rle)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, pt);
        if !encrypted {
            let rec = parse_unencrypted_segment(1, true, &ct[HEADER_LEN + 5..]).unwrap();
            assert_eq!(rec.body, &pt[S..]);
        }
    }
}

#[test]
fn unencrypted_mode_round_trip_and_framing_checks() {
    let pt = data(S + 3, 3);
    let mut w = SealWriter::unencrypted(Vec::new());
    w.write_all(&pt).unwrap();
    let ct = w.finish().unwrap();
    assert_eq!(ct.len(), pt.len() + 2 * HEADER_LEN);
    assert_eq!(unencrypted_len(pt.len() as u64), Some(ct.len() as u64));
    let mut out = Vec::new();
    OpenReader::unencrypted(ct.as_slice())
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, pt);
    let e = OpenReader::unencrypted(&ct[..ct.len() - 1])
        .read_to_end(&mut Vec::new())
        .unwrap_err();
    assert_eq!(
        SegmentError::from_io(&e),
        Some(&SegmentError::Truncated { index: 1 })
    );
}

#[test]
fn in_place_api_matches_the_copying_one() {
    let k = key();
    let body = data(1000, 2);
    let mut buf = vec![0u8; HEADER_LEN];
    buf.extend_from_slice(&body);
    pqreg_spec::segment::seal_segment_in_place(&k, 3, true, Codec::STORED, &mut buf).unwrap();
    assert_eq!(
        buf,
        seal_segment(&k, 3, true, Codec::STORED, &body).unwrap()
    );
    let (header, opened) =
        pqreg_spec::segment::open_segment_in_place(&k, 3, true, &mut buf.clone())
            .map(|(h, b)| (h, b.to_vec()))
            .unwrap();
    assert!(header.last);
    assert_eq!(opened, body);
    assert!(matches!(
        pqreg_spec::segment::open_segment_in_place(&k, 3, false, &mut buf).unwrap_err(),
        SegmentError::LastFlagMismatch { index: 3, .. }
    ));
    let mut short = vec![0u8; 3];
    assert!(matches!(
        pqreg_spec::segment::seal_segment_in_place(&k, 0, true, Codec::STORED, &mut short),
        Err(SegmentError::RecordLength { .. })
    ));
}
