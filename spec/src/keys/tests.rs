//! Unit tests: round trips for every algorithm and the negative cases of spec/keys.md.

use super::*;

const SIG_ALGS: [SignatureAlgorithm; 5] = [
    SignatureAlgorithm::MlDsa44,
    SignatureAlgorithm::MlDsa65,
    SignatureAlgorithm::MlDsa87,
    SignatureAlgorithm::Ed25519,
    SignatureAlgorithm::EcdsaP256Sha256,
];
const KEM_ALGS: [KemAlgorithm; 2] = [KemAlgorithm::XWing, KemAlgorithm::MlKem1024];

/// A cheap scrypt cost so the tests stay fast (the default is 2^17).
const TEST_COST: ScryptCost = ScryptCost {
    log_n: 10,
    r: 8,
    p: 1,
};

#[test]
fn sign_verify_every_algorithm() {
    for alg in SIG_ALGS {
        let k = SigningKey::generate(alg).unwrap();
        assert_eq!(k.alg(), alg);
        let sig = k.sign(b"pqreg").unwrap();
        let vk = k.verifying_key();
        vk.verify(b"pqreg", &sig).unwrap();
        assert!(matches!(
            vk.verify(b"pqreg!", &sig),
            Err(KeyError::BadSignature { .. })
        ));
        let mut flipped = sig.clone();
        let last = flipped.len() - 1;
        flipped[last / 2] ^= 0x01;
        assert!(
            matches!(
                vk.verify(b"pqreg", &flipped),
                Err(KeyError::BadSignature { .. })
            ),
            "{alg}"
        );
    }
}

#[test]
fn mldsa_signature_lengths_checked() {
    let k = SigningKey::generate(SignatureAlgorithm::MlDsa44).unwrap();
    let sig = k.sign(b"x").unwrap();
    assert_eq!(sig.len(), 2420);
    let short = &sig[..sig.len() - 1];
    assert!(matches!(
        k.verifying_key().verify(b"x", short),
        Err(KeyError::BadLength { want: 2420, .. })
    ));
}

#[test]
fn signing_pem_round_trip() {
    for alg in SIG_ALGS {
        let k = SigningKey::generate(alg).unwrap();
        let pem = k.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let back = SigningKey::from_pem(&pem).unwrap();
        assert_eq!(back.key_id(), k.key_id());
        assert_eq!(back.seed(), k.seed());
        let pub_pem = k.verifying_key().to_pem().unwrap();
        assert!(pub_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let vk = VerifyingKey::from_pem(&pub_pem).unwrap();
        assert_eq!(vk, k.verifying_key());
        let sig = back.sign(b"m").unwrap();
        vk.verify(b"m", &sig).unwrap();
        match decode_public_pem(&pub_pem).unwrap() {
            PublicKey::Signing(v) => assert_eq!(v.key_id(), k.key_id()),
            other => panic!("{other:?}"),
        }
        match decode_private_pem(&pem).unwrap() {
            PrivateKey::Signing(s) => assert_eq!(s.key_id(), k.key_id()),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn recipient_pem_round_trip() {
    for alg in KEM_ALGS {
        let k = RecipientPrivateKey::generate(alg).unwrap();
        let pk = k.public_key().unwrap();
        let pem = k.to_pem().unwrap();
        let back = RecipientPrivateKey::from_pem(&pem).unwrap();
        assert_eq!(back.seed(), k.seed());
        assert_eq!(back.alg(), alg);
        let pub_pem = pk.to_pem().unwrap();
        let pk2 = RecipientPublicKey::from_pem(&pub_pem).unwrap();
        assert_eq!(pk2, pk);
        assert_eq!(pk2.key_id(), k.key_id().unwrap());
        match decode_public_pem(&pub_pem).unwrap() {
            PublicKey::Recipient(r) => assert_eq!(r, pk),
            other => panic!("{other:?}"),
        }
        match decode_private_pem(&pem).unwrap() {
            PrivateKey::Recipient(r) => assert_eq!(r.seed(), k.seed()),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn mldsa_pkcs8_matches_aws_lc() {
    // aws-lc-rs writes ML-DSA PKCS#8 in seed form too: byte-identical output is a check
    // of our encoding against an independent one.
    use aws_lc_rs::signature::{ML_DSA_65_SIGNING, PqdsaKeyPair};
    let seed = [7u8; 32];
    let ours = SigningKey::from_seed(SignatureAlgorithm::MlDsa65, &seed)
        .unwrap()
        .to_pkcs8_der()
        .unwrap();
    let theirs = PqdsaKeyPair::from_seed(&ML_DSA_65_SIGNING, &seed)
        .unwrap()
        .to_pkcs8v1()
        .unwrap();
    assert_eq!(ours.as_slice(), theirs.as_ref());
}

#[test]
fn ed25519_pkcs8_matches_aws_lc() {
    use aws_lc_rs::signature::Ed25519KeyPair;
    let seed = [9u8; 32];
    let ours = SigningKey::from_seed(SignatureAlgorithm::Ed25519, &seed)
        .unwrap()
        .to_pkcs8_der()
        .unwrap();
    let theirs = Ed25519KeyPair::from_seed_unchecked(&seed)
        .unwrap()
        .to_pkcs8v1()
        .unwrap();
    assert_eq!(ours.as_slice(), theirs.as_ref());
}

#[test]
fn wrong_label_rejected() {
    let k = SigningKey::generate(SignatureAlgorithm::Ed25519).unwrap();
    let pub_pem = k.verifying_key().to_pem().unwrap();
    let relabeled = pub_pem.replace("PUBLIC KEY", "CERTIFICATE");
    assert!(matches!(
        decode_public_pem(&relabeled),
        Err(KeyError::PemLabel { .. })
    ));
    // A public key where a private key is expected.
    assert!(matches!(
        decode_private_pem(&pub_pem),
        Err(KeyError::PemLabel { .. })
    ));
}

#[test]
fn truncated_pem_rejected() {
    let k = SigningKey::generate(SignatureAlgorithm::MlDsa44).unwrap();
    let pem = k.verifying_key().to_pem().unwrap();
    // Cut inside the base64: the armor is broken.
    let cut = &pem[..pem.len() / 2];
    assert!(matches!(
        decode_public_pem(cut),
        Err(KeyError::PemMalformed(_))
    ));
    // Whole lines dropped but armor intact: the DER is truncated.
    let lines: Vec<&str> = pem.lines().collect();
    let mut shortened = vec![lines[0]];
    shortened.extend_from_slice(&lines[2..]);
    let shortened = shortened.join("\n") + "\n";
    assert!(matches!(
        decode_public_pem(&shortened),
        Err(KeyError::Der(_))
    ));
}

#[test]
fn trailing_der_rejected() {
    let k = RecipientPrivateKey::generate(KemAlgorithm::XWing).unwrap();
    let mut der = k.public_key().unwrap().to_spki_der();
    der.push(0);
    let pem = pem::armor(pem::LABEL_PUBLIC, &der).unwrap();
    assert!(matches!(
        decode_public_pem(&pem),
        Err(KeyError::TrailingData)
    ));
    let mut der = k.to_pkcs8_der().unwrap().to_vec();
    der.push(0);
    assert!(matches!(
        RecipientPrivateKey::from_pkcs8_der(&der),
        Err(KeyError::TrailingData)
    ));
}

#[test]
fn unknown_oid_and_parameters_rejected() {
    let k = SigningKey::generate(SignatureAlgorithm::MlDsa65).unwrap();
    let der = k.verifying_key().to_spki_der();
    // The last arc of id-ml-dsa-65 (.18) sits in the AlgorithmIdentifier; make it .20.
    let pos = der
        .windows(9)
        .position(|w| w == [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12])
        .unwrap();
    let mut bad = der.clone();
    bad[pos + 8] = 0x14;
    assert!(matches!(
        VerifyingKey::from_spki_der(&bad),
        Err(KeyError::UnknownAlgorithm(oid)) if oid == "2.16.840.1.101.3.4.3.20"
    ));
    // ML-DSA-65 OID with ML-DSA-44's OID: right OID family, wrong length.
    let mut bad = der.clone();
    bad[pos + 8] = 0x11;
    assert!(matches!(
        VerifyingKey::from_spki_der(&bad),
        Err(KeyError::BadLength { want: 1312, .. })
    ));
}

#[test]
fn wrong_kind_rejected() {
    let r = RecipientPrivateKey::generate(KemAlgorithm::MlKem1024).unwrap();
    let pem = r.to_pem().unwrap();
    assert!(matches!(
        SigningKey::from_pem(&pem),
        Err(KeyError::WrongKeyKind {
            want: "signing",
            ..
        })
    ));
    let pub_pem = r.public_key().unwrap().to_pem().unwrap();
    assert!(matches!(
        VerifyingKey::from_pem(&pub_pem),
        Err(KeyError::WrongKeyKind { .. })
    ));
}

#[test]
fn expanded_mldsa_private_key_refused() {
    // The `expandedKey` choice is a bare OCTET STRING (tag 0x04).
    let field = [0x04, 0x01, 0x00];
    let der = pem::pkcs8_der(pem::AnyAlg::Sig(SignatureAlgorithm::MlDsa44), &field).unwrap();
    assert!(matches!(
        SigningKey::from_pkcs8_der(&der),
        Err(KeyError::NotSeedForm { .. })
    ));
}

#[test]
fn encrypted_pem_round_trip_and_errors() {
    let k = SigningKey::generate(SignatureAlgorithm::MlDsa65).unwrap();
    let enc = k
        .encrypt_pem_with_cost(b"correct horse", TEST_COST)
        .unwrap();
    assert!(enc.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    let back = SigningKey::from_pem_with_passphrase(&enc, b"correct horse").unwrap();
    assert_eq!(back.key_id(), k.key_id());
    assert!(matches!(
        SigningKey::from_pem_with_passphrase(&enc, b"wrong horse"),
        Err(KeyError::WrongPassphrase)
    ));
    assert!(matches!(
        SigningKey::from_pem(&enc),
        Err(KeyError::PassphraseRequired)
    ));
    assert!(matches!(
        decode_private_pem(&enc),
        Err(KeyError::PassphraseRequired)
    ));
    // Malformed (truncated ciphertext) is not a wrong passphrase.
    let (_, der) = pem::unarmor(&enc, &[pem::LABEL_ENCRYPTED], "x").unwrap();
    let cut = pem::armor(pem::LABEL_ENCRYPTED, &der[..der.len() - 5]).unwrap();
    assert!(matches!(
        decode_private_pem_with_passphrase(&cut, b"correct horse"),
        Err(KeyError::Der(_))
    ));
    let r = RecipientPrivateKey::generate(KemAlgorithm::XWing).unwrap();
    let enc = r.encrypt_pem_with_cost(b"pw", TEST_COST).unwrap();
    match decode_private_pem_with_passphrase(&enc, b"pw").unwrap() {
        PrivateKey::Recipient(back) => assert_eq!(back.seed(), r.seed()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn excessive_scrypt_cost_refused() {
    let k = RecipientPrivateKey::generate(KemAlgorithm::XWing).unwrap();
    // Encrypt cheaply, then patch the DER so scrypt's p (parallelization) is 17, over the
    // limit of 16: the decoder must refuse before running scrypt.
    let enc = k.encrypt_pem_with_cost(b"pw", TEST_COST).unwrap();
    let (_, der) = pem::unarmor(&enc, &[pem::LABEL_ENCRYPTED], "x").unwrap();
    let mut der = der.to_vec();
    // scrypt-params: ... cost INTEGER 1024 (02 02 04 00), r INTEGER 8, p INTEGER 1.
    let pos = der
        .windows(6)
        .position(|w| w == [0x02, 0x02, 0x04, 0x00, 0x02, 0x01])
        .unwrap();
    assert_eq!(&der[pos + 6..pos + 10], &[0x08, 0x02, 0x01, 0x01]);
    der[pos + 9] = 17;
    let pem = pem::armor(pem::LABEL_ENCRYPTED, &der).unwrap();
    assert!(matches!(
        RecipientPrivateKey::from_pem_with_passphrase(&pem, b"pw"),
        Err(KeyError::UnsupportedEncryption(_))
    ));
}

#[test]
fn key_id_parse_and_display() {
    let k = SigningKey::generate(SignatureAlgorithm::Ed25519).unwrap();
    let id = k.key_id();
    let s = id.to_string();
    assert!(s.starts_with("sha256:") && s.len() == 71);
    assert_eq!(s.parse::<KeyId>().unwrap(), id);
    assert!(matches!(
        "sha256:XYZ".parse::<KeyId>(),
        Err(KeyError::KeyIdSyntax(_))
    ));
    assert_eq!(id, KeyId::of_spki_der(&k.verifying_key().to_spki_der()));
}

#[test]
fn bad_raw_keys_rejected() {
    assert!(matches!(
        RecipientPublicKey::from_raw(KemAlgorithm::XWing, &[0u8; 1215]),
        Err(KeyError::BadLength { .. })
    ));
    // All-0xff coefficients break the FIPS 203 modulus check.
    assert!(matches!(
        RecipientPublicKey::from_raw(KemAlgorithm::MlKem1024, &[0xffu8; 1568]),
        Err(KeyError::InvalidKey { .. })
    ));
    let mut point = [0u8; 65];
    point[0] = 4;
    point[1] = 1;
    assert!(matches!(
        VerifyingKey::from_raw(SignatureAlgorithm::EcdsaP256Sha256, &point),
        Err(KeyError::InvalidKey { .. })
    ));
    assert!(matches!(
        SigningKey::from_seed(SignatureAlgorithm::EcdsaP256Sha256, &[0u8; 32]),
        Err(KeyError::NotSeedForm { .. })
    ));
}

#[test]
fn algorithm_names_round_trip() {
    for a in SignatureAlgorithm::ALL {
        assert_eq!(SignatureAlgorithm::from_name(a.name()), Some(a));
    }
    for a in KemAlgorithm::ALL {
        assert_eq!(KemAlgorithm::from_name(&a.to_string()), Some(a));
    }
    assert_eq!(SignatureAlgorithm::from_name("ML-DSA-65"), None);
}

/// A wrong passphrase is `WrongPassphrase` however the CBC padding of the garbage happens to
/// come out (it checks about 1 time in 256, and then the plaintext is not DER): 2000 tries.
#[test]
fn wrong_passphrase_is_always_wrong_passphrase() {
    let k = SigningKey::generate(SignatureAlgorithm::MlDsa65).unwrap();
    let enc = k
        .encrypt_pem_with_cost(b"correct horse", TEST_COST)
        .unwrap();
    for i in 0..2000u32 {
        let wrong = format!("wrong {i}");
        let r = SigningKey::from_pem_with_passphrase(&enc, wrong.as_bytes());
        assert!(
            matches!(r, Err(KeyError::WrongPassphrase)),
            "try {i}: {r:?}"
        );
    }
}
