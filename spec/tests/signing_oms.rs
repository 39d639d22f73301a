//! OMS v1.0 test vectors (`testdata/oms_v1_*`, from `test-vectors/v1.0/` of the OMS spec,
//! source and commit in each file): parse, statement structure, subject recomputation,
//! the ECDSA P-256 signature of the Sigstore vector, and the invalid vectors' errors.

mod signing_util;

use pqreg_spec::bundle::{Bundle, BundleError, KeyMaterial};
use pqreg_spec::dsse::{SigningError, Verifier};
use pqreg_spec::statement::{Method, PAYLOAD_TYPE, Statement, StatementError, root_digest};
use signing_util::{TestVerifier, testdata};

fn bundle_bytes(name: &str) -> (Vec<u8>, serde_json::Value) {
    let v = testdata(name);
    (
        serde_json::to_vec(&v["bundle"]).unwrap(),
        v["expected"].clone(),
    )
}

#[test]
fn key_bundle() {
    let (json, want) = bundle_bytes("oms_v1_key_bundle.json");
    let b = Bundle::from_json(&json).unwrap();
    assert_eq!(
        b.public_key_hint().unwrap(),
        want["public_key_hint"].as_str().unwrap()
    );
    assert!(b.tlog_entries.is_empty());
    assert_eq!(b.dsse_envelope.payload_type, PAYLOAD_TYPE);
    assert_eq!(b.dsse_envelope.signatures[0].keyid, None); // "" reads as no hint
    let s = Statement::from_json(&b.dsse_envelope.payload).unwrap();
    assert_eq!(
        s.subject_digest().hex(),
        want["subject_sha256"].as_str().unwrap()
    );
    assert_eq!(root_digest(&s.resources), s.subject_digest());
    assert_eq!(s.resources.len(), 2);
    assert_eq!(s.resources[0].name, "signme-1");
    assert_eq!(s.method, Method::Files);
    assert_eq!(s.manifest, None);
    assert_eq!(s.ignore_paths.as_ref().map(Vec::len), Some(5));
    // An OMS statement has no manifest binding: pqreg's check refuses it.
    assert!(matches!(
        s.check_manifest(&pqreg_spec::Digest::sha256(b"m")),
        Err(SigningError::Statement(StatementError::ManifestMissing))
    ));
    // Round trip through our encoder keeps the bundle's meaning.
    let again = Bundle::from_json(&b.to_json()).unwrap();
    assert_eq!(again, b);
}

#[test]
fn key_bundle_flipped_resource_digest_breaks_subject() {
    let (json, _) = bundle_bytes("oms_v1_key_bundle.json");
    let b = Bundle::from_json(&json).unwrap();
    let text = String::from_utf8(b.dsse_envelope.payload.clone()).unwrap();
    let tampered = text.replacen("bc9a717d", "bc9a717e", 1);
    let err = Statement::from_json(tampered.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            SigningError::Statement(StatementError::SubjectMismatch { .. })
        ),
        "{err:?}"
    );
}

/// The P-256 SubjectPublicKeyInfo inside a DER certificate (found by its fixed prefix).
fn p256_spki_in(cert: &[u8]) -> Vec<u8> {
    let prefix = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    let at = cert
        .windows(prefix.len())
        .position(|w| w == prefix)
        .unwrap();
    cert[at..at + 91].to_vec()
}

#[test]
fn sigstore_bundle() {
    let (json, want) = bundle_bytes("oms_v1_sigstore_bundle.json");
    let b = Bundle::from_json(&json).unwrap();
    let KeyMaterial::Certificate(cert) = &b.key else {
        panic!("certificate expected")
    };
    assert!(matches!(
        b.public_key_hint(),
        Err(SigningError::Bundle(
            BundleError::UnsupportedVerificationMaterial("certificate")
        ))
    ));
    assert_eq!(b.rfc3161_timestamps.as_ref().map(Vec::len), Some(1));

    let e = &b.tlog_entries[0];
    let t = &want["tlog_entry"];
    assert_eq!(e.log_index, t["logIndex"].as_u64().unwrap());
    assert_eq!(e.integrated_time, t["integratedTime"].as_u64().unwrap());
    assert_eq!(e.kind, t["kind"].as_str().unwrap());
    assert_eq!(e.version, t["version"].as_str().unwrap());
    assert_eq!(
        e.inclusion_proof.log_index,
        t["proofLogIndex"].as_u64().unwrap()
    );
    assert_eq!(e.inclusion_proof.tree_size, t["treeSize"].as_u64().unwrap());
    assert_eq!(
        e.inclusion_proof.hashes.len() as u64,
        t["hashes"].as_u64().unwrap()
    );
    assert!(
        e.inclusion_proof
            .checkpoint
            .starts_with("rekor.sigstore.dev - ")
    );
    assert!(e.inclusion_promise.is_some());
    // Not a pqreg entry.
    assert!(matches!(
        b.pqreg_log_entry(),
        Err(SigningError::Bundle(BundleError::MissingLogEntry))
    ));
    // Rekor's body records the SHA-256 of the payload we decoded.
    let body: serde_json::Value = serde_json::from_slice(&e.canonicalized_body).unwrap();
    assert_eq!(
        body["spec"]["payloadHash"]["value"].as_str().unwrap(),
        b.statement_digest().hex()
    );

    // The DSSE signature (ECDSA P-256, DER) verifies with the certificate's key.
    let key = TestVerifier::ecdsa_p256(&p256_spki_in(cert), false);
    let ok = b
        .dsse_envelope
        .verify(PAYLOAD_TYPE, &[&key as &dyn Verifier])
        .unwrap();
    let s = Statement::from_json(ok.payload).unwrap();
    assert_eq!(
        s.subject_digest().hex(),
        want["subject_sha256"].as_str().unwrap()
    );
    assert_eq!(s.model_name, "v1.1.0-sigstore");

    // One flipped payload bit: the signature no longer verifies.
    let mut bad = b.dsse_envelope.clone();
    bad.payload[10] ^= 0x20;
    assert!(bad.verify(PAYLOAD_TYPE, &[&key as &dyn Verifier]).is_err());

    assert_eq!(Bundle::from_json(&b.to_json()).unwrap(), b);
}

#[test]
fn wrong_predicate_vector() {
    let (json, _) = bundle_bytes("oms_v1_wrong_predicate.json");
    let b = Bundle::from_json(&json).unwrap();
    let err = Statement::from_json(&b.dsse_envelope.payload).unwrap_err();
    assert!(
        matches!(err, SigningError::Statement(StatementError::WrongPredicateType(ref t)) if t == "https://example.com/wrong-predicate/v1.0"),
        "{err:?}"
    );
}

#[test]
fn missing_envelope_vector() {
    let (json, _) = bundle_bytes("oms_v1_missing_envelope.json");
    let err = Bundle::from_json(&json).unwrap_err();
    assert!(
        matches!(err, SigningError::Bundle(BundleError::Json(ref m)) if m.contains("dsseEnvelope")),
        "{err:?}"
    );
}
