use super::*;

fn vectors() -> serde_json::Value {
    serde_json::from_str(include_str!(
        "../../../testdata/note_sumdb_peterneumann.json"
    ))
    .unwrap()
}

fn s<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v[k].as_str().unwrap()
}

#[test]
fn go_sumdb_vector_keys_and_signature() {
    let v = vectors();
    let peter = VerifierKey::parse(s(&v, "peter_vkey")).unwrap();
    assert_eq!(peter.name(), "PeterNeumann");
    assert_eq!(peter.key_id(), 0xc74f20a3);
    assert_eq!(peter.signature_type(), SignatureType::Ed25519);
    assert_eq!(peter.to_string(), s(&v, "peter_vkey"));

    // Signing with the published private key reproduces the published note exactly.
    let signer = NoteSigner::parse_private_key(s(&v, "peter_skey")).unwrap();
    assert_eq!(signer.verifier_key(), &peter);
    assert_eq!(&*signer.private_key_string(), s(&v, "peter_skey"));
    let mut note = Note::new(s(&v, "text")).unwrap();
    note.sign(&signer, 0).unwrap();
    let want = format!("{}\n{}", s(&v, "text"), s(&v, "peter_sig_line"));
    assert_eq!(note.to_string(), want);
    // Signing again replaces the line rather than adding one.
    note.sign(&signer, 0).unwrap();
    assert_eq!(note.to_string(), want);
}

#[test]
fn go_sumdb_open_cases() {
    let v = vectors();
    let peter = VerifierKey::parse(s(&v, "peter_vkey")).unwrap();
    let enoch = VerifierKey::parse(s(&v, "enoch_vkey")).unwrap();
    let text = s(&v, "text");
    let psig = s(&v, "peter_sig_line");
    let esig = s(&v, "enoch_sig_line");
    let both = format!("{text}\n{psig}{esig}");
    let note = Note::parse(both.as_bytes()).unwrap();
    assert_eq!(note.text(), text);
    assert_eq!(note.signatures().len(), 2);
    assert_eq!(note.to_string(), both, "parse/format round trip");

    // One known key: the other line is ignored.
    let got = note.verify(std::slice::from_ref(&peter)).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].name, "PeterNeumann");
    assert_eq!(got[0].timestamp, None);
    // Both known.
    assert_eq!(
        note.verify(&[peter.clone(), enoch.clone()]).unwrap().len(),
        2
    );
    // Reordered signature lines verify the same (the spec gives them no order).
    let swapped = Note::parse(format!("{text}\n{esig}{psig}").as_bytes()).unwrap();
    assert_eq!(
        swapped
            .verify(&[peter.clone(), enoch.clone()])
            .unwrap()
            .len(),
        2
    );
    // None known.
    assert_eq!(note.verify(&[]), Err(NoteError::NoVerifiedSignature));
    // The wrong key: Enoch's key does not match Peter's line, which is then unknown.
    let only_peter_line = Note::parse(format!("{text}\n{psig}").as_bytes()).unwrap();
    assert_eq!(
        only_peter_line.verify(std::slice::from_ref(&enoch)),
        Err(NoteError::NoVerifiedSignature)
    );
    // A key with Peter's name and ID but Enoch's public key (built by hand, since a vkey
    // string with a wrong ID does not parse) fails the signature check.
    let mut impostor =
        VerifierKey::new("PeterNeumann", SignatureType::Ed25519, enoch.public_key()).unwrap();
    impostor.key_id = peter.key_id();
    assert_eq!(
        only_peter_line.verify(&[impostor]),
        Err(NoteError::BadSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );
    // Two configured keys with the same name and ID.
    let only_enoch = Note::parse(format!("{text}\n{esig}").as_bytes()).unwrap();
    assert!(matches!(
        only_enoch.verify(&[enoch.clone(), peter.clone(), enoch.clone()]),
        Err(NoteError::AmbiguousKey { .. })
    ));
    // ...which does not matter when that key signed nothing.
    let only_peter = Note::parse(format!("{text}\n{psig}").as_bytes()).unwrap();
    only_peter
        .verify(&[enoch.clone(), peter.clone(), enoch.clone()])
        .unwrap();
    // A corrupted signature from a known key rejects the note.
    let bad = format!("{text}\n{}ABCD{}", &psig[..60], &psig[60..]);
    assert_eq!(
        Note::parse(bad.as_bytes())
            .unwrap()
            .verify(std::slice::from_ref(&peter)),
        Err(NoteError::BadSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );
    // The right key against another text.
    let other = Note::parse(format!("{}x\n\n{psig}", text.trim_end()).as_bytes()).unwrap();
    assert!(matches!(
        other.verify(std::slice::from_ref(&peter)),
        Err(NoteError::BadSignature { .. })
    ));
    // Too many lines.
    let many = format!("{text}\n{}", psig.repeat(MAX_SIGNATURES + 1));
    assert_eq!(
        Note::parse(many.as_bytes()),
        Err(NoteError::TooManySignatures(MAX_SIGNATURES + 1))
    );
    let enough = format!("{text}\n{}", psig.repeat(16));
    assert_eq!(
        Note::parse(enough.as_bytes())
            .unwrap()
            .verify(std::slice::from_ref(&peter))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn malformed_notes_name_their_check() {
    let v = vectors();
    let text = s(&v, "text");
    let psig = s(&v, "peter_sig_line");
    let cases: Vec<(Vec<u8>, NoteError)> = vec![
        (text.into(), NoteError::MissingBlankLine),
        (format!("{text}\n").into(), NoteError::NoSignatures),
        (
            format!("{text}\n{}", &psig[..psig.len() - 1]).into(),
            NoteError::BadSignatureLine(1),
        ),
        (
            format!("\x01{text}\n{psig}").into(),
            NoteError::ControlCharacter(1),
        ),
        (
            format!("{text}\r\n{psig}").into(),
            NoteError::ControlCharacter(0x0d),
        ),
        (
            [b"\xff".as_slice(), format!("{text}\n{psig}").as_bytes()].concat(),
            NoteError::NotUtf8,
        ),
        (
            format!("{text}\n{psig}Unexpected line.\n").into(),
            NoteError::BadSignatureLine(2),
        ),
        (
            format!("{text}\n{}", psig.replace("\u{2014} ", "-- ")).into(),
            NoteError::BadSignatureLine(1),
        ),
        (
            format!("{text}\n{}", psig.replace("PeterNeumann", "Peter+Neumann")).into(),
            NoteError::BadKeyName("Peter+Neumann".into()),
        ),
        (
            format!(
                "{text}\n{}",
                psig.replace("PeterNeumann ", "PeterNeumann  ")
            )
            .into(),
            NoteError::BadBase64("signature"),
        ),
        (
            format!("{text}\n{}", psig.replace("AM=", "AM")).into(),
            NoteError::BadBase64("signature"),
        ),
        (
            format!("{text}\n\u{2014} PeterNeumann AAAAAA==\n").into(),
            NoteError::ShortSignature(1),
        ),
        (format!("\n\n{psig}").into(), NoteError::BadText),
        (
            vec![b'a'; MAX_NOTE_BYTES + 1],
            NoteError::TooLarge(MAX_NOTE_BYTES + 1),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(
            Note::parse(&input),
            Err(want),
            "{:?}",
            String::from_utf8_lossy(&input)
        );
    }
    // Signature lines before the blank line are text, not signatures.
    let n = Note::parse(format!("{psig}{text}\n{psig}").as_bytes()).unwrap();
    assert!(n.text().starts_with('\u{2014}'));
    assert_eq!(n.signatures().len(), 1);
}

#[test]
fn verifier_key_strings() {
    let v = vectors();
    let vk = s(&v, "peter_vkey");
    // Every proper substring and every single-byte change is refused (as sumdb tests).
    let b = vk.as_bytes();
    for i in 0..b.len() {
        for j in i + 1..=b.len() {
            if i == 0 && j == b.len() {
                continue;
            }
            if let Ok(s) = std::str::from_utf8(&b[i..j]) {
                assert!(VerifierKey::parse(s).is_err(), "{s}");
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] = m[i].wrapping_add(1);
        if let Ok(s) = std::str::from_utf8(&m) {
            // Hex digits are case-insensitive, so 'c' -> 'd' changes the ID but 'a' -> 'b'
            // in the ID does too: all must fail.
            assert!(VerifierKey::parse(s).is_err(), "{s}");
        }
    }
    assert!(matches!(
        VerifierKey::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(NoteError::KeyIdMismatch { .. })
    ));
    assert_eq!(
        VerifierKey::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(NoteError::UnsupportedType(0x65))
    );
    assert!(
        VerifierKey::parse(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
        .is_err()
    );
}

fn seed(b: u8) -> [u8; 32] {
    [b; 32]
}

const CHECKPOINT: &str = "example.com/log\n5\nQnGia+DYqE8L1UyMMC58s6O10fpngKQLzOKHNHfatlg=\n";

#[test]
fn cosignature_types_sign_and_verify() {
    let log = NoteSigner::from_seed("example.com/log", SignatureType::Ed25519, &seed(1)).unwrap();
    let pq = NoteSigner::from_seed(
        "example.com/log",
        SignatureType::CosignatureMlDsa44,
        &seed(2),
    )
    .unwrap();
    let w1 = NoteSigner::from_seed(
        "witness.example/w1",
        SignatureType::CosignatureEd25519,
        &seed(3),
    )
    .unwrap();
    let w2 = NoteSigner::from_seed(
        "witness.example/w2",
        SignatureType::CosignatureMlDsa44,
        &seed(4),
    )
    .unwrap();
    assert_eq!(
        pq.verifier_key().public_key().len(),
        ML_DSA_44_PUBLIC_KEY_LEN
    );
    // Restoring from the private key string gives the same key.
    let again = NoteSigner::parse_private_key(&pq.private_key_string()).unwrap();
    assert_eq!(again.verifier_key(), pq.verifier_key());

    let mut note = Note::new(CHECKPOINT).unwrap();
    for (s, t) in [
        (&log, 0),
        (&pq, 1_700_000_000),
        (&w1, 1_700_000_001),
        (&w2, 0),
    ] {
        note.sign(s, t).unwrap();
    }
    let parsed = Note::parse(&note.to_bytes()).unwrap();
    let keys: Vec<VerifierKey> = [&log, &pq, &w1, &w2]
        .iter()
        .map(|s| s.verifier_key().clone())
        .collect();
    let got = parsed.verify(&keys).unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(got[1].timestamp, Some(1_700_000_000));
    assert_eq!(got[2].timestamp, Some(1_700_000_001));
    assert_eq!(got[3].signature_type, SignatureType::CosignatureMlDsa44);
    // The same name, different key IDs: the Ed25519 and ML-DSA-44 keys of the log.
    assert_ne!(keys[0].key_id(), keys[1].key_id());
    // A vkey round-trips for every type.
    for k in &keys {
        assert_eq!(&VerifierKey::parse(&k.to_string()).unwrap(), k);
    }

    // Tampering with a cosignature's timestamp breaks it.
    for i in 1..4 {
        let mut t = parsed.clone();
        t.signatures[i].signature[7] ^= 1;
        assert!(matches!(
            t.verify(&keys),
            Err(NoteError::BadSignature { .. })
        ));
        // A flipped bit in the signature proper, too.
        let mut t = parsed.clone();
        let last = t.signatures[i].signature.len() - 1;
        t.signatures[i].signature[last] ^= 0x40;
        assert!(matches!(
            t.verify(&keys),
            Err(NoteError::BadSignature { .. })
        ));
        // Truncated.
        let mut t = parsed.clone();
        t.signatures[i].signature.truncate(40);
        assert!(matches!(
            t.verify(&keys),
            Err(NoteError::BadSignature { .. })
        ));
    }
    // The ML-DSA-44 cosignature commits to the cosigner name: the same key under another
    // name does not verify (the key ID differs too, so build the key by hand).
    let renamed = VerifierKey::new(
        "example.com/other",
        SignatureType::CosignatureMlDsa44,
        pq.verifier_key().public_key(),
    )
    .unwrap();
    let mut t = parsed.clone();
    t.signatures[1].name = "example.com/other".into();
    t.signatures[1].key_id = renamed.key_id();
    assert!(matches!(
        t.verify(&[renamed]),
        Err(NoteError::BadSignature { .. })
    ));
    // ML-DSA-44 cosignatures need a checkpoint text.
    let mut plain = Note::new("hello\n").unwrap();
    assert_eq!(plain.sign(&pq, 0), Err(NoteError::NotACheckpoint));
    assert_eq!(
        log.sign("x\n", 1u64 << 63),
        Err(NoteError::BadTimestamp(1u64 << 63))
    );
}

#[test]
fn subtree_message_layout() {
    // tlog-cosignature: label, name<1..255>, u64 timestamp, origin<1..255>, u64 start,
    // u64 end, hash[32].
    let m = subtree_v1_message("w", CHECKPOINT, 0x0102).unwrap();
    let mut want = b"subtree/v1\n\0".to_vec();
    want.extend_from_slice(&[1, b'w']);
    want.extend_from_slice(&0x0102u64.to_be_bytes());
    want.push(15);
    want.extend_from_slice(b"example.com/log");
    want.extend_from_slice(&0u64.to_be_bytes());
    want.extend_from_slice(&5u64.to_be_bytes());
    want.extend_from_slice(
        &STANDARD
            .decode("QnGia+DYqE8L1UyMMC58s6O10fpngKQLzOKHNHfatlg=")
            .unwrap(),
    );
    assert_eq!(m, want);
    assert_eq!(
        cosignature_v1_message("a\n", 7),
        b"cosignature/v1\ntime 7\na\n".to_vec()
    );
}

#[test]
fn c2sp_examples_parse() {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../../testdata/note_c2sp_examples.json")).unwrap();
    let n = Note::parse(s(&v, "signed_note").as_bytes()).unwrap();
    assert_eq!(n.text(), s(&v, "signed_note_text"));
    assert_eq!(n.signatures()[0].name, "quasimodo.example/salvatore");
    assert_eq!(n.to_string(), s(&v, "signed_note"));
    assert_eq!(n.verify(&[]), Err(NoteError::NoVerifiedSignature));

    let c = Note::parse(s(&v, "cosigned_checkpoint").as_bytes()).unwrap();
    let cp = crate::checkpoint::Checkpoint::parse_body(c.text()).unwrap();
    assert_eq!(cp.size, 20852163);
    let w = &c.signatures()[1];
    assert_eq!(format!("{:08x}", w.key_id), s(&v, "witness_key_id"));
    let (ts, sig) = split_timestamp(&w.signature).unwrap();
    assert_eq!(ts, v["witness_timestamp"].as_u64().unwrap());
    assert_eq!(sig.len(), 64);
}

#[test]
fn signers_and_keys_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<NoteSigner>();
    send_sync::<VerifierKey>();
    send_sync::<Note>();
}
