//! DSSE envelopes: the DSSE spec's known answer, sign/verify round trips with ML-DSA-65,
//! ML-DSA-87 and ECDSA P-256, and one negative test per failure, each asserting its
//! own error variant.

mod signing_util;

use pqreg_spec::dsse::{DsseError, Envelope, SigningError, Verifier, pae};
use signing_util::{TestKey, TestVerifier, testdata};

const TYPE: &str = "application/vnd.in-toto+json";

fn dsse_err(e: SigningError) -> DsseError {
    match e {
        SigningError::Dsse(d) => d,
        other => panic!("expected a DSSE error, got {other:?}"),
    }
}

// testdata/dsse_pae_hello_world.json: secure-systems-lab/dsse protocol.md "Test Vectors".
#[test]
fn dsse_spec_known_answer() {
    let v = testdata("dsse_pae_hello_world.json");
    let t = v["payload_type"].as_str().unwrap();
    let body = v["payload_utf8"].as_str().unwrap();
    assert_eq!(
        pae(t, body.as_bytes()),
        v["pae_utf8"].as_str().unwrap().as_bytes()
    );

    let env_json = serde_json::to_vec(&v["envelope"]).unwrap();
    let env = Envelope::from_json(&env_json).unwrap();
    assert_eq!(env.payload, body.as_bytes());
    assert_eq!(env.signatures[0].keyid, None);
    let spki = hex::decode(v["public_key_spki_der_hex"].as_str().unwrap()).unwrap();
    let sec1 = hex::decode(v["public_key_sec1_hex"].as_str().unwrap()).unwrap();
    assert!(spki.ends_with(&sec1));
    let key = TestVerifier::ecdsa_p256(&spki, true);
    let ok = env.verify(t, &[&key as &dyn Verifier]).unwrap();
    assert_eq!(ok.payload, b"hello world");
    assert_eq!(ok.key_id, key.id);

    // One flipped bit in the vector's signature fails.
    let mut bad = env.clone();
    bad.signatures[0].sig[5] ^= 1;
    assert!(matches!(
        dsse_err(bad.verify(t, &[&key as &dyn Verifier]).unwrap_err()),
        DsseError::NoValidSignature
    ));
}

#[test]
fn round_trip_each_algorithm() {
    for key in [
        TestKey::ml_dsa_65(),
        TestKey::ml_dsa_87(),
        TestKey::ecdsa_p256(),
    ] {
        let env = Envelope::sign(TYPE, b"{\"a\":1}".to_vec(), &[&key]).unwrap();
        let json = env.to_json();
        let parsed = Envelope::from_json(&json).unwrap();
        assert_eq!(parsed, env);
        let v = key.verifier();
        let ok = parsed.verify(TYPE, &[&v as &dyn Verifier]).unwrap();
        assert_eq!(ok.payload, b"{\"a\":1}");
        assert_eq!(ok.algorithm, v.alg);
        assert_eq!(
            parsed.signatures[0].keyid.as_deref(),
            Some(v.id.to_string().as_str())
        );
    }
}

fn signed() -> (Envelope, TestKey) {
    let key = TestKey::ml_dsa_65();
    let env = Envelope::sign(TYPE, b"{\"statement\":true}".to_vec(), &[&key]).unwrap();
    (env, key)
}

#[test]
fn flipped_payload_bit_is_bad_signature() {
    let (mut env, key) = signed();
    env.payload[3] ^= 0x01;
    let v = key.verifier();
    let err = dsse_err(env.verify(TYPE, &[&v as &dyn Verifier]).unwrap_err());
    assert!(
        matches!(err, DsseError::BadSignature(id) if id == v.id),
        "{err:?}"
    );
}

#[test]
fn flipped_signature_bit_is_bad_signature() {
    let (mut env, key) = signed();
    env.signatures[0].sig[100] ^= 0x80;
    let v = key.verifier();
    let err = dsse_err(env.verify(TYPE, &[&v as &dyn Verifier]).unwrap_err());
    assert!(matches!(err, DsseError::BadSignature(_)), "{err:?}");
}

#[test]
fn extra_trailing_payload_byte_is_bad_signature() {
    let (mut env, key) = signed();
    env.payload.push(b' ');
    let v = key.verifier();
    let err = dsse_err(env.verify(TYPE, &[&v as &dyn Verifier]).unwrap_err());
    assert!(matches!(err, DsseError::BadSignature(_)), "{err:?}");
}

#[test]
fn wrong_payload_type() {
    let (mut env, key) = signed();
    let v = key.verifier();
    let err = dsse_err(
        env.verify("application/json", &[&v as &dyn Verifier])
            .unwrap_err(),
    );
    assert!(matches!(err, DsseError::WrongPayloadType { .. }), "{err:?}");
    // Changing the type in the envelope breaks the signature: PAE covers it.
    env.payload_type = "application/vnd.in-toto+jsoN".into();
    let err = dsse_err(
        env.verify(&env.payload_type.clone(), &[&v as &dyn Verifier])
            .unwrap_err(),
    );
    assert!(matches!(err, DsseError::BadSignature(_)), "{err:?}");
}

#[test]
fn missing_signature() {
    let (mut env, key) = signed();
    env.signatures.clear();
    let v = key.verifier();
    let err = dsse_err(env.verify(TYPE, &[&v as &dyn Verifier]).unwrap_err());
    assert!(matches!(err, DsseError::NoSignatures), "{err:?}");
    let err = dsse_err(
        Envelope::from_json(&env.to_json())
            .unwrap()
            .verify(TYPE, &[&v as &dyn Verifier])
            .unwrap_err(),
    );
    assert!(matches!(err, DsseError::NoSignatures), "{err:?}");
}

#[test]
fn unknown_key() {
    let (env, _key) = signed();
    let other = TestKey::ml_dsa_65().verifier();
    let err = dsse_err(env.verify(TYPE, &[&other as &dyn Verifier]).unwrap_err());
    assert!(
        matches!(err, DsseError::UnknownSigner(ref ids) if ids.len() == 1),
        "{err:?}"
    );
    // Without a key hint every accepted key is tried and none verifies.
    let mut anon = env.clone();
    anon.signatures[0].keyid = None;
    let err = dsse_err(anon.verify(TYPE, &[&other as &dyn Verifier]).unwrap_err());
    assert!(matches!(err, DsseError::NoValidSignature), "{err:?}");
    let err = dsse_err(env.verify(TYPE, &[]).unwrap_err());
    assert!(matches!(err, DsseError::NoAcceptedKeys), "{err:?}");
}

#[test]
fn second_signature_by_accepted_key_suffices() {
    let a = TestKey::ml_dsa_65();
    let b = TestKey::ecdsa_p256();
    let env = Envelope::sign(TYPE, b"x".to_vec(), &[&a, &b]).unwrap();
    let vb = b.verifier();
    let ok = env.verify(TYPE, &[&vb as &dyn Verifier]).unwrap();
    assert_eq!(ok.key_id, vb.id);
}

#[test]
fn strict_json() {
    let (env, _) = signed();
    let good = String::from_utf8(env.to_json()).unwrap();
    assert!(Envelope::from_json(good.as_bytes()).is_ok());
    let payload = serde_json::from_str::<serde_json::Value>(&good).unwrap()["payload"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        format!("{good}x"),                                              // trailing byte
        good.replacen("{", &format!("{{\"payload\":\"{payload}\","), 1), // duplicate field
        good.replacen("{", "{\"extra\":1,", 1),                          // unknown field
        good.replacen("\"payloadType\"", "\"payloadtype\"", 1),          // misspelt
        good[..good.len() - 1].to_owned(),                               // truncated
    ];
    for c in cases {
        let err = dsse_err(Envelope::from_json(c.as_bytes()).unwrap_err());
        assert!(matches!(err, DsseError::Json(_)), "{err:?}");
    }
    // Padding stripped: not canonical base64.
    let unpadded = good.replacen(&payload, payload.trim_end_matches('='), 1);
    if unpadded != good {
        let err = dsse_err(Envelope::from_json(unpadded.as_bytes()).unwrap_err());
        assert!(matches!(err, DsseError::BadBase64("payload")), "{err:?}");
    }
    let err = dsse_err(
        Envelope::from_json(
            good.replacen(&payload, &format!("{payload} "), 1)
                .as_bytes(),
        )
        .unwrap_err(),
    );
    assert!(matches!(err, DsseError::BadBase64("payload")), "{err:?}");
}

#[test]
fn keyid_absent_empty_or_null_all_mean_no_hint() {
    for sig in [
        r#"{"sig":"AA=="}"#,
        r#"{"sig":"AA==","keyid":""}"#,
        r#"{"sig":"AA==","keyid":null}"#,
    ] {
        let json = format!(r#"{{"payload":"AA==","payloadType":"t","signatures":[{sig}]}}"#);
        let env = Envelope::from_json(json.as_bytes()).unwrap();
        assert_eq!(env.signatures[0].keyid, None);
    }
}

#[test]
fn size_limits() {
    let sigs = (0..17)
        .map(|_| r#"{"sig":"AA=="}"#)
        .collect::<Vec<_>>()
        .join(",");
    let json = format!(r#"{{"payload":"AA==","payloadType":"t","signatures":[{sigs}]}}"#);
    let err = dsse_err(Envelope::from_json(json.as_bytes()).unwrap_err());
    assert!(matches!(err, DsseError::TooManySignatures(17)), "{err:?}");
    let long = "t".repeat(300);
    let json = format!(r#"{{"payload":"AA==","payloadType":"{long}","signatures":[]}}"#);
    let err = dsse_err(Envelope::from_json(json.as_bytes()).unwrap_err());
    assert!(
        matches!(
            err,
            DsseError::TooLarge {
                what: "payloadType",
                ..
            }
        ),
        "{err:?}"
    );
}
