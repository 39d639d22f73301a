//! Steps 3-5 and 7 of the verification algorithm end to end with the `keys` module's
//! ML-DSA and ECDSA keys: a PQ bundle with a log entry, the classical OMS bundle over the
//! same statement, and each failure with its error and exit code.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml covers #[test] fns only)

use pqreg_spec::Digest;
use pqreg_spec::bundle::verify::{ExitCode, verify_signature};
use pqreg_spec::bundle::{
    Bundle, BundleError, InclusionProof, PQREG_ENTRY_KIND, PQREG_ENTRY_VERSION, TlogEntry,
    oms_key_hint,
};
use pqreg_spec::dsse::{DsseError, Envelope, SigningError, Verifier};
use pqreg_spec::keys::{SignatureAlgorithm, SigningKey};
use pqreg_spec::policy::{Policy, PolicyError};
use pqreg_spec::statement::{FileEntry, PAYLOAD_TYPE, Statement, StatementError};

const REPO: &str = "registry.example/models/tiny";

fn manifest() -> Digest {
    Digest::sha256(b"the model manifest")
}

fn statement() -> Statement {
    let files = [FileEntry {
        path: "model.safetensors".into(),
        digest: Digest::sha256(b"weights"),
        size: 7,
    }];
    Statement::from_files("tiny", &files, Some(manifest())).unwrap()
}

fn log_entry(index: u64) -> TlogEntry {
    TlogEntry {
        log_index: index,
        log_id: Digest::sha256(b"log.registry.example").as_bytes().to_vec(),
        kind: PQREG_ENTRY_KIND.into(),
        version: PQREG_ENTRY_VERSION.into(),
        integrated_time: 1_767_225_600,
        inclusion_promise: None,
        inclusion_proof: InclusionProof {
            log_index: index,
            root_hash: [7; 32],
            tree_size: index + 1,
            hashes: vec![[1; 32]],
            checkpoint: "log.registry.example\n1\nBwcH\n\n— log.registry.example AAAA\n".into(),
        },
        canonicalized_body: b"entry".to_vec(),
    }
}

fn pq_bundle(key: &SigningKey, entries: Vec<TlogEntry>) -> Vec<u8> {
    let env = Envelope::sign(PAYLOAD_TYPE, statement().to_json(), &[key]).unwrap();
    Bundle::new(key.key_id().to_string(), env, entries).to_json()
}

fn policy_for(key: &SigningKey, pattern: &str, require_log: bool) -> Policy {
    let pem = key.verifying_key().to_pem().unwrap();
    Policy::from_toml(&format!(
        "version = 1\nrequire_log = {require_log}\n[[keys]]\nname = \"k\"\nalg = \"{}\"\npublic_key = \"\"\"\n{pem}\"\"\"\n[[rules]]\nrepositories = [\"{pattern}\"]\nsigners = [\"k\"]\n",
        key.alg().name()
    ))
    .unwrap()
}

fn verify(
    json: &[u8],
    policy: &Policy,
) -> Result<pqreg_spec::bundle::verify::VerifiedSignature, SigningError> {
    let keys = policy.verifying_keys_for(REPO);
    let accepted: Vec<&dyn Verifier> = keys.iter().map(|k| *k as &dyn Verifier).collect();
    verify_signature(json, REPO, policy, &accepted)
}

#[test]
fn pq_bundle_verifies() {
    for alg in [SignatureAlgorithm::MlDsa65, SignatureAlgorithm::MlDsa87] {
        let key = SigningKey::generate(alg).unwrap();
        let policy = policy_for(&key, "registry.example/models/*", true);
        let json = pq_bundle(&key, vec![log_entry(3)]);
        let v = verify(&json, &policy).unwrap();
        assert_eq!(v.key_id, key.key_id());
        assert_eq!(v.algorithm, alg);
        assert_eq!(v.statement, statement());
        assert_eq!(v.log_entry.unwrap().log_index, 3);
        v.statement.check_manifest(&manifest()).unwrap();
        // Step 7: another manifest -> digest mismatch (exit 10).
        let e = v
            .statement
            .check_manifest(&Digest::sha256(b"other"))
            .unwrap_err();
        assert!(matches!(
            e,
            SigningError::Statement(StatementError::ManifestMismatch { .. })
        ));
        assert_eq!(e.exit_code(), ExitCode::DigestMismatch);
    }
}

#[test]
fn policy_miss_and_untrusted_signer() {
    let key = SigningKey::generate(SignatureAlgorithm::MlDsa65).unwrap();
    let json = pq_bundle(&key, vec![log_entry(0)]);
    let elsewhere = policy_for(&key, "registry.example/other/*", true);
    // The key is not offered for this repository at all: DSSE sees an unknown signer.
    let e = verify(&json, &elsewhere).unwrap_err();
    assert!(
        matches!(e, SigningError::Dsse(DsseError::NoAcceptedKeys)),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), ExitCode::UntrustedSigner);
    // Offered (e.g. from a keyring), signature fine, but no rule covers the repository.
    let vk = key.verifying_key();
    let e = verify_signature(&json, REPO, &elsewhere, &[&vk as &dyn Verifier]).unwrap_err();
    assert!(
        matches!(e, SigningError::Policy(PolicyError::NoRuleForRepository(_))),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), ExitCode::UntrustedSigner);
    // A rule covers it but lists another key.
    let other = SigningKey::generate(SignatureAlgorithm::MlDsa65).unwrap();
    let p = policy_for(&other, "registry.example/models/*", true);
    let e = verify_signature(&json, REPO, &p, &[&vk as &dyn Verifier]).unwrap_err();
    assert!(
        matches!(e, SigningError::Policy(PolicyError::UntrustedSigner { .. })),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), ExitCode::UntrustedSigner);
    // With only the other key accepted, the signature names an unknown key.
    let e = verify(&json, &p).unwrap_err();
    assert!(
        matches!(e, SigningError::Dsse(DsseError::UnknownSigner(_))),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), ExitCode::UntrustedSigner);
}

#[test]
fn log_entry_requirements() {
    let key = SigningKey::generate(SignatureAlgorithm::MlDsa65).unwrap();
    let json = pq_bundle(&key, vec![]);
    let e = verify(&json, &policy_for(&key, "registry.example/**", true)).unwrap_err();
    assert!(
        matches!(e, SigningError::Bundle(BundleError::MissingLogEntry)),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), ExitCode::LogProof);
    let v = verify(&json, &policy_for(&key, "registry.example/**", false)).unwrap();
    assert!(v.log_entry.is_none());
    // Two pqreg entries, or one whose proof index disagrees, are refused.
    let two = pq_bundle(&key, vec![log_entry(1), log_entry(2)]);
    let e = verify(&two, &policy_for(&key, "registry.example/**", true)).unwrap_err();
    assert!(
        matches!(e, SigningError::Bundle(BundleError::DuplicateLogEntry(2))),
        "{e:?}"
    );
    let mut odd = log_entry(5);
    odd.inclusion_proof.log_index = 4;
    let e = verify(
        &pq_bundle(&key, vec![odd]),
        &policy_for(&key, "registry.example/**", true),
    )
    .unwrap_err();
    assert!(
        matches!(e, SigningError::Bundle(BundleError::BadLogEntry(_))),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), ExitCode::LogProof);
}

#[test]
fn tampered_bundle_is_bad_signature() {
    let key = SigningKey::generate(SignatureAlgorithm::MlDsa65).unwrap();
    let policy = policy_for(&key, "registry.example/**", true);
    let mut b = Bundle::from_json(&pq_bundle(&key, vec![log_entry(0)])).unwrap();
    b.dsse_envelope.signatures[0].sig[0] ^= 1;
    let e = verify(&b.to_json(), &policy).unwrap_err();
    assert!(
        matches!(e, SigningError::Dsse(DsseError::BadSignature(_))),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), ExitCode::BadSignature);
    let e = verify(b"{}", &policy).unwrap_err();
    assert!(
        matches!(e, SigningError::Bundle(BundleError::Json(_))),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), ExitCode::BadSignature);
    let good = String::from_utf8(pq_bundle(&key, vec![log_entry(0)])).unwrap();
    let wrong_media = good.replace("bundle.v0.3+json", "bundle.v0.2+json");
    let e = verify(wrong_media.as_bytes(), &policy).unwrap_err();
    assert!(
        matches!(e, SigningError::Bundle(BundleError::WrongMediaType(_))),
        "{e:?}"
    );
    let quoted_int = good.replace("\"logIndex\":\"0\"", "\"logIndex\":0");
    let e = verify(quoted_int.as_bytes(), &policy).unwrap_err();
    assert!(
        matches!(e, SigningError::Bundle(BundleError::Json(_))),
        "{e:?}"
    );
    let leading_zero = good.replacen("\"treeSize\":\"1\"", "\"treeSize\":\"01\"", 1);
    let e = verify(leading_zero.as_bytes(), &policy).unwrap_err();
    assert!(
        matches!(e, SigningError::Bundle(BundleError::BadInteger(_))),
        "{e:?}"
    );
}

#[test]
fn classical_bundle_over_the_same_statement() {
    let pq = SigningKey::generate(SignatureAlgorithm::MlDsa65).unwrap();
    let ec = SigningKey::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
    let pq_b = Bundle::from_json(&pq_bundle(&pq, vec![log_entry(0)])).unwrap();
    let spki = ec.verifying_key().to_spki_der();
    let env = Envelope::sign(PAYLOAD_TYPE, pq_b.dsse_envelope.payload.clone(), &[&ec]).unwrap();
    let classic = Bundle::new(oms_key_hint(&spki), env, vec![]);
    let parsed = Bundle::from_json(&classic.to_json()).unwrap();
    assert_eq!(parsed.dsse_envelope.payload, pq_b.dsse_envelope.payload);
    assert_eq!(parsed.statement_digest(), pq_b.statement_digest());
    let vk = ec.verifying_key();
    parsed
        .dsse_envelope
        .verify(PAYLOAD_TYPE, &[&vk as &dyn Verifier])
        .unwrap();
    assert!(
        parsed
            .to_json()
            .windows(16)
            .any(|w| w == b"\"tlogEntries\":[]")
    );
    // The OMS hint is SHA-256 of the PEM text, as model_signing computes it (value for the
    // DSSE spec's example key computed with Python `cryptography`).
    let dsse_key = hex::decode("3059301306072a8648ce3d020106082a8648ce3d0301070342000467cd390f77aa359cb08c2235f652270493a9ed832b0abcc01f70954c0390d2380c782bd54e269125a44f4433aff1432ce94e12bca73aa67ac80cea12608ddf74").unwrap();
    assert_eq!(
        oms_key_hint(&dsse_key),
        "0208b83a6f7cb3a71b25443312dc3063661cd8f474cfe938f3c2568f7d465a8d"
    );
}
