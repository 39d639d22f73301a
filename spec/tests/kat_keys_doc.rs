//! The worked examples of spec/keys.md, checked against the code so the document cannot
//! drift: each fenced block after a `<!-- example: NAME -->` marker is decoded, and the key
//! IDs the document states must be the ones the code computes.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a test failure

use pqreg_spec::keys::{
    KemAlgorithm, KeyError, KeyId, PrivateKey, PublicKey, SignatureAlgorithm, decode_private_pem,
    decode_public_pem,
};

const DOC: &str = include_str!("../keys.md");

/// The contents of the fenced block that follows `<!-- example: name -->`, with a trailing
/// newline (as a PEM file has).
fn example(name: &str) -> String {
    let marker = format!("<!-- example: {name} -->");
    let start = DOC
        .find(&marker)
        .unwrap_or_else(|| panic!("no example {name}"));
    let rest = &DOC[start + marker.len()..];
    let open = rest.find("```\n").unwrap() + 4;
    let close = rest[open..].find("```").unwrap();
    rest[open..open + close].to_string()
}

#[test]
fn mldsa65_public_key_example() {
    let pem = example("mldsa65-public");
    let key = decode_public_pem(&pem).unwrap();
    let PublicKey::Signing(vk) = &key else {
        panic!("not a signing key")
    };
    assert_eq!(vk.alg(), SignatureAlgorithm::MlDsa65);
    let id: KeyId = example("mldsa65-key-id").trim().parse().unwrap();
    assert_eq!(key.key_id(), id);
    // The document shows exactly what the encoder writes.
    assert_eq!(key.to_pem().unwrap(), pem);
    // The byte-level reading in the document.
    let der = key.to_spki_der();
    assert_eq!(der.len(), 1974);
    assert_eq!(
        &der[..22],
        &[
            0x30, 0x82, 0x07, 0xb2, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
            0x04, 0x03, 0x12, 0x03, 0x82, 0x07, 0xa1, 0x00
        ]
    );
}

#[test]
fn xwing_public_key_example() {
    let pem = example("xwing-public");
    let key = decode_public_pem(&pem).unwrap();
    let PublicKey::Recipient(pk) = &key else {
        panic!("not a recipient key")
    };
    assert_eq!(pk.alg(), KemAlgorithm::XWing);
    let id: KeyId = example("xwing-key-id").trim().parse().unwrap();
    assert_eq!(key.key_id(), id);
    assert_eq!(key.to_pem().unwrap(), pem);
}

#[test]
fn ed25519_private_key_example() {
    let pem = example("ed25519-private");
    let PrivateKey::Signing(sk) = decode_private_pem(&pem).unwrap() else {
        panic!("not a signing key")
    };
    assert_eq!(sk.alg(), SignatureAlgorithm::Ed25519);
    assert_eq!(sk.seed(), Some([1u8; 32].as_slice()));
    assert_eq!(sk.to_pem().unwrap().as_str(), pem);
    let public = example("ed25519-public");
    assert_eq!(sk.verifying_key().to_pem().unwrap(), public);
    let id: KeyId = example("ed25519-key-id").trim().parse().unwrap();
    assert_eq!(sk.key_id(), id);
    // The public example is not a private key file.
    assert!(matches!(
        decode_private_pem(&public),
        Err(KeyError::PemLabel { .. })
    ));
}

#[test]
fn example_key_ids_differ_from_a_flipped_key() {
    // A key ID must depend on the key: flip one base64 character of the X-Wing example
    // (inside the key bytes) and the key either stops decoding or gets another ID.
    let pem = example("xwing-public");
    let id: KeyId = example("xwing-key-id").trim().parse().unwrap();
    let mut lines: Vec<String> = pem.lines().map(str::to_owned).collect();
    let line = &mut lines[5];
    let c = if line.starts_with('A') { "B" } else { "A" };
    line.replace_range(0..1, c);
    let flipped = lines.join("\n") + "\n";
    match decode_public_pem(&flipped) {
        Ok(k) => assert_ne!(k.key_id(), id),
        Err(e) => assert!(matches!(e, KeyError::InvalidKey { .. }), "{e:?}"),
    }
}
