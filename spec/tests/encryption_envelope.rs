//! The key envelope (spec/encryption.md §4): sealing and opening for both KEMs, recipient
//! changes, and strict parsing, each refusal asserting its own variant.

// Test helpers panic on bad fixtures by design; clippy.toml only exempts #[test] fns.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hpke::kem::{MlKem1024, XWing};
use hpke::{Kem, Serializable};
use pqreg_spec::envelope::{ContentSecret, EnvelopeError, KeyEnvelope};
use pqreg_spec::keys::{KemAlgorithm, RecipientPrivateKey, RecipientPublicKey};
use serde_json::{Value, json};

fn xwing(ikm: u8) -> (RecipientPrivateKey, RecipientPublicKey) {
    let (sk, _) = XWing::derive_keypair(&[ikm; 32]);
    let sk = RecipientPrivateKey::from_seed(KemAlgorithm::XWing, &sk.to_bytes()).unwrap();
    let pk = sk.public_key().unwrap();
    (sk, pk)
}

fn mlkem(ikm: u8) -> (RecipientPrivateKey, RecipientPublicKey) {
    let (sk, _) = MlKem1024::derive_keypair(&[ikm; 64]);
    let sk = RecipientPrivateKey::from_seed(KemAlgorithm::MlKem1024, &sk.to_bytes()).unwrap();
    let pk = sk.public_key().unwrap();
    (sk, pk)
}

fn secret() -> ContentSecret {
    ContentSecret::from_bytes(&[0x33; 32])
}

fn sample() -> (KeyEnvelope, Value) {
    let env = KeyEnvelope::seal(&secret(), &[xwing(1).1, mlkem(2).1]).unwrap();
    let v: Value = serde_json::from_slice(&env.to_json()).unwrap();
    (env, v)
}

fn parse(v: &Value) -> Result<KeyEnvelope, EnvelopeError> {
    KeyEnvelope::from_json(&serde_json::to_vec(v).unwrap())
}

#[test]
fn seal_open_round_trip_both_kems() {
    let (env, _) = sample();
    assert_eq!(env.open(&xwing(1).0).unwrap(), secret());
    assert_eq!(env.open(&mlkem(2).0).unwrap(), secret());
    let ids: Vec<_> = env.key_ids().collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "entries sorted by key ID"
    );
    assert_eq!(env.recipients().len(), 2);
    assert_eq!(env.recipients()[0].ciphertext.len(), 48);
}

#[test]
fn json_round_trip_and_serde_embedding() {
    let (env, v) = sample();
    assert_eq!(parse(&v).unwrap(), env);
    // Embedded via serde (as the artifact config does), the same checks apply.
    let embedded: KeyEnvelope = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(embedded, env);
    let mut bad = v;
    bad["version"] = json!(1);
    assert!(serde_json::from_value::<KeyEnvelope>(bad).is_err());
}

#[test]
fn wrong_recipient_has_no_entry() {
    let (env, _) = sample();
    let e = env.open(&xwing(9).0).unwrap_err();
    assert!(matches!(e, EnvelopeError::NoEntry(_)), "{e:?}");
    let e = env.open(&mlkem(9).0).unwrap_err();
    assert!(matches!(e, EnvelopeError::NoEntry(_)), "{e:?}");
}

#[test]
fn corrupted_own_entry_is_unwrap_failure() {
    let (env, mut v) = sample();
    let me = xwing(1);
    let my_id = me.1.key_id().to_string();
    for field in ["ciphertext", "enc"] {
        let mut v2 = v.clone();
        let entry = v2["recipients"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|e| e["keyId"] == my_id.as_str())
            .unwrap();
        let mut bytes = B64.decode(entry[field].as_str().unwrap()).unwrap();
        bytes[3] ^= 0x01;
        entry[field] = json!(B64.encode(&bytes));
        let env2 = parse(&v2).unwrap();
        assert_eq!(
            env2.open(&me.0).unwrap_err(),
            EnvelopeError::Unwrap(me.1.key_id()),
            "{field}"
        );
    }
    // An entry moved under another key ID (with that key's public key, so it parses) no
    // longer opens: the AAD binds the key ID.
    let other = xwing(7).1;
    for e in v["recipients"].as_array_mut().unwrap() {
        if e["keyId"] == my_id.as_str() {
            e["keyId"] = json!(other.key_id().to_string());
            e["publicKey"] = json!(B64.encode(other.as_bytes()));
        }
    }
    let env3 = parse(&v).unwrap();
    assert!(matches!(env3.open(&me.0), Err(EnvelopeError::NoEntry(_))));
    drop(env);
}

#[test]
fn add_and_remove_recipients_rewrap_the_same_secret() {
    let (mut env, _) = sample();
    let (c_sk, c_pk) = xwing(3);
    assert!(matches!(env.open(&c_sk), Err(EnvelopeError::NoEntry(_))));
    let s = env.open(&xwing(1).0).unwrap();
    env.add_recipient(&s, &c_pk).unwrap();
    assert_eq!(env.open(&c_sk).unwrap(), secret());
    assert_eq!(
        env.add_recipient(&s, &c_pk).unwrap_err(),
        EnvelopeError::DuplicateRecipient(c_pk.key_id())
    );
    let a_id = xwing(1).1.key_id();
    env.remove_recipient(&a_id).unwrap();
    assert!(matches!(
        env.open(&xwing(1).0),
        Err(EnvelopeError::NoEntry(_))
    ));
    assert_eq!(
        env.remove_recipient(&a_id).unwrap_err(),
        EnvelopeError::NotARecipient(a_id)
    );
    env.remove_recipient(&mlkem(2).1.key_id()).unwrap();
    assert_eq!(
        env.remove_recipient(&c_pk.key_id()).unwrap_err(),
        EnvelopeError::NoRecipients
    );
    // What a rotation does: a new envelope to the public keys the entries carry.
    let left = env.public_keys();
    assert_eq!(left, vec![c_pk.clone()]);
    let re = KeyEnvelope::seal(&s, &[left, vec![xwing(4).1]].concat()).unwrap();
    assert_eq!(re.open(&xwing(4).0).unwrap(), secret());
    assert_eq!(re.open(&c_sk).unwrap(), secret());
}

/// A publisher that wraps a different secret for each recipient (each entry on its own
/// is a valid HPKE seal) is caught by the commitment: only the committed secret opens
/// (spec/encryption.md §4.6).
#[test]
fn commitment_catches_an_envelope_that_wraps_two_secrets() {
    let other = ContentSecret::from_bytes(&[0x44; 32]);
    let (a_sk, a_pk) = xwing(1);
    let (b_sk, b_pk) = xwing(2);
    let for_a: Value = serde_json::from_slice(
        &KeyEnvelope::seal(&secret(), std::slice::from_ref(&a_pk))
            .unwrap()
            .to_json(),
    )
    .unwrap();
    let for_b = KeyEnvelope::seal(&other, &[b_pk]).unwrap();
    // B's entry alone opens to the other secret: the HPKE layer does not notice.
    assert_eq!(for_b.open(&b_sk).unwrap(), other);
    let for_b: Value = serde_json::from_slice(&for_b.to_json()).unwrap();
    let mut forged = for_a.clone();
    forged["recipients"]
        .as_array_mut()
        .unwrap()
        .push(for_b["recipients"][0].clone());
    let forged = parse(&forged).unwrap();
    assert_eq!(forged.open(&a_sk).unwrap(), secret());
    assert_eq!(forged.open(&b_sk).unwrap_err(), EnvelopeError::Commitment);
    // The same entries under the other secret's commitment: now A is the one refused.
    let mut flipped: Value = serde_json::from_slice(&forged.to_json()).unwrap();
    flipped["commitment"] = json!(B64.encode(other.commitment()));
    let flipped = parse(&flipped).unwrap();
    assert_eq!(flipped.open(&a_sk).unwrap_err(), EnvelopeError::Commitment);
    assert_eq!(flipped.open(&b_sk).unwrap(), other);
    // A writer cannot wrap another secret into an envelope either.
    let (mut env, _) = sample();
    assert_eq!(
        env.add_recipient(&other, &xwing(3).1).unwrap_err(),
        EnvelopeError::Commitment
    );
    assert_eq!(env.recipients().len(), 2, "nothing added");
    assert_eq!(env.commitment(), &secret().commitment());
    assert_ne!(secret().commitment(), other.commitment());
}

#[test]
fn sealing_needs_distinct_recipients() {
    assert_eq!(
        KeyEnvelope::seal(&secret(), &[]).unwrap_err(),
        EnvelopeError::NoRecipients
    );
    let pk = xwing(1).1;
    assert!(matches!(
        KeyEnvelope::seal(&secret(), &[pk.clone(), pk]),
        Err(EnvelopeError::DuplicateRecipient(_))
    ));
}

#[test]
fn each_sealing_is_fresh() {
    let pk = [xwing(1).1];
    let a = KeyEnvelope::seal(&secret(), &pk).unwrap();
    let b = KeyEnvelope::seal(&secret(), &pk).unwrap();
    assert_ne!(a.recipients()[0].enc, b.recipients()[0].enc);
}

#[test]
fn strict_parsing() {
    let (_, v) = sample();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v2 = v.clone();
        f(&mut v2);
        parse(&v2).unwrap_err()
    };
    assert!(matches!(
        with(&|v| v["extra"] = json!(1)),
        EnvelopeError::Malformed(_)
    ));
    assert!(matches!(
        with(&|v| v["recipients"][0]["note"] = json!("x")),
        EnvelopeError::Malformed(_)
    ));
    for field in ["kdf", "commitment"] {
        assert!(matches!(
            with(&|v| {
                v.as_object_mut().unwrap().remove(field);
            }),
            EnvelopeError::Malformed(_)
        ));
    }
    assert_eq!(
        with(&|v| v["commitment"] = json!(B64.encode([7u8; 31]))),
        EnvelopeError::BadLength {
            field: "commitment",
            got: 31,
            want: 32
        }
    );
    assert_eq!(
        with(&|v| v["commitment"] = json!(B64.encode([7u8; 32]).trim_end_matches('='))),
        EnvelopeError::BadBase64("commitment")
    );
    assert_eq!(
        with(&|v| v["version"] = json!(1)),
        EnvelopeError::UnsupportedVersion(1)
    );
    assert_eq!(
        with(&|v| v["version"] = json!(3)),
        EnvelopeError::UnsupportedVersion(3)
    );
    assert!(matches!(
        with(&|v| v["kdf"] = json!("hkdf-sha384")),
        EnvelopeError::UnsupportedAlgorithm { field: "kdf", .. }
    ));
    assert!(matches!(
        with(&|v| v["aead"] = json!("chacha20-poly1305")),
        EnvelopeError::UnsupportedAlgorithm { field: "aead", .. }
    ));
    assert!(matches!(
        with(&|v| v["recipients"][0]["kem"] = json!("ml-kem-768")),
        EnvelopeError::UnsupportedAlgorithm { field: "kem", .. }
    ));
    assert_eq!(
        with(&|v| v["recipients"] = json!([])),
        EnvelopeError::NoRecipients
    );
    assert!(matches!(
        with(&|v| {
            let e = v["recipients"][0].clone();
            v["recipients"][1] = e;
        }),
        EnvelopeError::DuplicateRecipient(_)
    ));
    assert!(matches!(
        with(&|v| v["recipients"][0]["keyId"] = json!("sha256:ABC")),
        EnvelopeError::Malformed(_)
    ));
}

#[test]
fn base64_must_be_canonical_and_lengths_exact() {
    let (_, v) = sample();
    let set = |field: &str, s: String| {
        let mut v2 = v.clone();
        v2["recipients"][0][field] = json!(s);
        parse(&v2).unwrap_err()
    };
    let ct = v["recipients"][0]["ciphertext"]
        .as_str()
        .unwrap()
        .to_owned();
    // Unpadded, URL-safe alphabet, embedded whitespace.
    let unpadded = B64.encode([1u8; 47]).trim_end_matches('=').to_owned();
    assert_eq!(
        set("ciphertext", unpadded),
        EnvelopeError::BadBase64("ciphertext")
    );
    assert_eq!(
        set(
            "ciphertext",
            ct.replace('+', "-").replace('/', "_") + if ct.contains(['+', '/']) { "" } else { "-" }
        ),
        EnvelopeError::BadBase64("ciphertext")
    );
    assert_eq!(
        set("ciphertext", format!("{} {}", &ct[..4], &ct[4..])),
        EnvelopeError::BadBase64("ciphertext")
    );
    // Non-zero trailing bits: 47 bytes end in "=" with 2 spare bits; set one.
    let good = B64.encode([0u8; 47]);
    let mut chars: Vec<char> = good.chars().collect();
    let at = chars.len() - 2;
    chars[at] = 'B';
    let nonzero: String = chars.into_iter().collect();
    assert_eq!(
        set("ciphertext", nonzero),
        EnvelopeError::BadBase64("ciphertext")
    );
    // Wrong decoded lengths.
    assert_eq!(
        set("ciphertext", B64.encode([0u8; 47])),
        EnvelopeError::BadLength {
            field: "ciphertext",
            got: 47,
            want: 48
        }
    );
    let enc_len = |i: usize| {
        let kem = v["recipients"][i]["kem"].as_str().unwrap();
        if kem == "x-wing" { 1120 } else { 1568 }
    };
    let want = enc_len(0);
    assert_eq!(
        set("enc", B64.encode(vec![0u8; want + 1])),
        EnvelopeError::BadLength {
            field: "enc",
            got: want + 1,
            want
        }
    );
    // An X-Wing-sized enc under an ML-KEM entry (and the reverse) is the wrong length.
    let mut v2 = v.clone();
    let kem0 = v["recipients"][0]["kem"].clone();
    let kem1 = v["recipients"][1]["kem"].clone();
    assert_ne!(kem0, kem1);
    v2["recipients"][0]["kem"] = kem1;
    assert!(matches!(
        parse(&v2).unwrap_err(),
        EnvelopeError::BadLength {
            field: "publicKey",
            ..
        }
    ));
}

/// Each entry's public key must be the key its `keyId` names (spec/encryption.md §4.2): a
/// rotation seals the next version to these keys, so an entry listing one recipient with
/// another's key would hand that version to the wrong key.
#[test]
fn public_key_must_match_key_id() {
    let env = KeyEnvelope::seal(&secret(), &[xwing(1).1, xwing(3).1]).unwrap();
    assert_eq!(env.public_keys(), {
        let mut k = vec![xwing(1).1, xwing(3).1];
        k.sort_by_key(|k| k.key_id());
        k
    });
    let v: Value = serde_json::from_slice(&env.to_json()).unwrap();
    let id0: pqreg_spec::keys::KeyId = v["recipients"][0]["keyId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Another recipient's (valid) key under this entry's ID.
    let mut swapped = v.clone();
    swapped["recipients"][0]["publicKey"] = v["recipients"][1]["publicKey"].clone();
    assert_eq!(
        parse(&swapped).unwrap_err(),
        EnvelopeError::PublicKeyMismatch(id0)
    );
    // Bytes of the right length that are no X-Wing key (ML-KEM modulus check fails).
    let mut invalid = v.clone();
    invalid["recipients"][0]["publicKey"] = json!(B64.encode(vec![0xffu8; 1216]));
    assert_eq!(
        parse(&invalid).unwrap_err(),
        EnvelopeError::PublicKeyMismatch(id0)
    );
    // Missing: a version 1 entry shape.
    let mut missing = v.clone();
    missing["recipients"][0]
        .as_object_mut()
        .unwrap()
        .remove("publicKey");
    assert!(matches!(
        parse(&missing).unwrap_err(),
        EnvelopeError::Malformed(_)
    ));
    assert!(parse(&v).is_ok());
}

#[test]
fn too_many_recipients() {
    let (_, v) = sample();
    let mut v2 = v.clone();
    let e = v["recipients"][0].clone();
    v2["recipients"] = Value::Array(vec![e; 1025]);
    assert_eq!(
        parse(&v2).unwrap_err(),
        EnvelopeError::TooManyRecipients(1025)
    );
}

#[test]
fn secret_debug_is_redacted() {
    assert_eq!(format!("{:?}", secret()), "ContentSecret(..)");
    let g = ContentSecret::generate().unwrap();
    assert_ne!(g, ContentSecret::generate().unwrap());
}
