//! Signed log submissions (spec/transparency-log.md §8.5) and the rule that signature
//! bundles pushed as referrers must be logged (spec/signing.md §5), over real HTTP.
#![allow(clippy::unwrap_used)]

use crate::common;

use crate::common::signed::{Publisher, push_bundle, push_model, submit, submit_ok};
use crate::common::{agent, body, err_code, start};
use pqreg_registry::tlog::names::EntryNames;
use pqreg_spec::Digest;
use pqreg_spec::bundle::Bundle;
use pqreg_spec::keys::{KeyId, SignatureAlgorithm};
use pqreg_spec::logentry::{EntryKind, LogEntry};
use serde_json::{Value, json};

const ORIGIN: &str = "127.0.0.1:0/log";

fn refused(a: &ureq::Agent, base: &str, body: &[u8], status: u16, code: &str) {
    let mut r = submit(a, base, body);
    assert_eq!(r.status(), status, "expected {code}");
    assert_eq!(err_code(&mut r), code);
}

#[test]
fn submission_builds_the_entry_and_refuses_what_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let base = reg.url();
    let a = agent();
    let m = Digest::sha256(&push_model(&a, &base, "acme/model", "v1", b"w1"));
    let other = Digest::sha256(&push_model(&a, &base, "acme/model", "v2", b"w2"));
    let p = Publisher::new(SignatureAlgorithm::MlDsa65);
    let payload = Publisher::statement(Some(m), 1);
    let env = p.envelope(payload.clone());

    // Accepted: the registry wrote the entry from the verified parts.
    let j = submit_ok(&a, &base, &p.submission("acme/model", Some("v1"), m, &env));
    let e = LogEntry::parse(j["entry"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(e.repository, "acme/model");
    assert_eq!(e.tag_name(), Some("v1"));
    assert_eq!(e.manifest, m);
    let spki = p.key.verifying_key().to_spki_der();
    assert_eq!(
        e.kind,
        EntryKind::Signature {
            statement: Digest::sha256(&payload),
            signer: KeyId::of_spki_der(&spki),
        }
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(e.time <= now && e.time + 60 > now);

    // ML-DSA-87 and ECDSA P-256 keys sign too (any algorithm of spec/keys.md).
    for alg in [
        SignatureAlgorithm::MlDsa87,
        SignatureAlgorithm::EcdsaP256Sha256,
    ] {
        let q = Publisher::new(alg);
        let env = q.envelope(Publisher::statement(Some(m), 2));
        submit_ok(&a, &base, &q.submission("acme/model", None, m, &env));
    }

    // Malformed requests.
    refused(&a, &base, b"{", 400, "LOG_ENTRY_INVALID");
    let mut v: Value = serde_json::from_slice(&p.submission("acme/model", None, m, &env)).unwrap();
    v["extra"] = json!(1);
    refused(
        &a,
        &base,
        &serde_json::to_vec(&v).unwrap(),
        400,
        "LOG_ENTRY_INVALID",
    );
    let mut v: Value = serde_json::from_slice(&p.submission("acme/model", None, m, &env)).unwrap();
    v["dsseEnvelope"]["bogus"] = json!(1);
    refused(
        &a,
        &base,
        &serde_json::to_vec(&v).unwrap(),
        400,
        "LOG_ENTRY_INVALID",
    );
    refused(
        &a,
        &base,
        &p.submission("Acme/Model", None, m, &env),
        400,
        "NAME_INVALID",
    );
    let mut v: Value = serde_json::from_slice(&p.submission("acme/model", None, m, &env)).unwrap();
    v["manifest"] = json!("sha256:00");
    refused(
        &a,
        &base,
        &serde_json::to_vec(&v).unwrap(),
        400,
        "DIGEST_INVALID",
    );
    let big = vec![b' '; (1 << 20) + 1];
    let mut r = submit(&a, &base, &big);
    assert_eq!(r.status(), 413);
    assert_eq!(err_code(&mut r), "LOG_ENTRY_INVALID");

    // Signature checks: another key, a flipped signature bit, a key that is not SPKI.
    let q = Publisher::new(SignatureAlgorithm::MlDsa65);
    let mut v: Value = serde_json::from_slice(&p.submission("acme/model", None, m, &env)).unwrap();
    v["publicKey"] = json!(q.spki_b64());
    refused(
        &a,
        &base,
        &serde_json::to_vec(&v).unwrap(),
        400,
        "SIGNATURE_INVALID",
    );
    v["publicKey"] = json!("AAAA");
    refused(
        &a,
        &base,
        &serde_json::to_vec(&v).unwrap(),
        400,
        "SIGNATURE_INVALID",
    );
    let mut flipped = env.clone();
    flipped.signatures[0].sig[7] ^= 1;
    refused(
        &a,
        &base,
        &p.submission("acme/model", None, m, &flipped),
        400,
        "SIGNATURE_INVALID",
    );
    // The statement must bind the submitted manifest, and bind one at all.
    refused(
        &a,
        &base,
        &p.submission("acme/model", None, other, &env),
        400,
        "SIGNATURE_INVALID",
    );
    let unbound = p.envelope(Publisher::statement(None, 1));
    refused(
        &a,
        &base,
        &p.submission("acme/model", None, m, &unbound),
        400,
        "SIGNATURE_INVALID",
    );
    let not_statement = p.envelope(b"{}".to_vec());
    refused(
        &a,
        &base,
        &p.submission("acme/model", None, m, &not_statement),
        400,
        "SIGNATURE_INVALID",
    );
    // The manifest must exist in that repository.
    refused(
        &a,
        &base,
        &p.submission("acme/other", None, m, &env),
        404,
        "MANIFEST_UNKNOWN",
    );
    reg.stop();
}

fn push_refused(r: &mut common::Resp, why: &str) {
    let st = r.status();
    let b = body(r);
    assert_eq!(st, 400, "{why}: {}", String::from_utf8_lossy(&b));
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["errors"][0]["code"], "LOG_ENTRY_MISSING", "{why}");
}

#[test]
fn bundle_referrers_must_be_logged() {
    bundle_rules(EntryNames::Clear);
}

/// The same rules when the log names repositories by keyed ids (spec/transparency-log.md
/// §3.2): the registry matches a keyed entry with the repository's name key, so the entry
/// of `acme/model` is still refused under `acme/copy`, and a classical bundle is still
/// covered only by a logged entry of its own repository.
#[test]
fn bundle_referrers_must_be_logged_with_keyed_names() {
    bundle_rules(EntryNames::Hashed);
}

fn bundle_rules(names: EntryNames) {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |c| c.log.entry_names = names);
    let base = reg.url();
    let a = agent();
    let repo = "acme/model";
    let model = push_model(&a, &base, repo, "v1", b"w1");
    let m = Digest::sha256(&model);
    let model2 = push_model(&a, &base, repo, "v2", b"w2");
    let m2 = Digest::sha256(&model2);
    let p = Publisher::new(SignatureAlgorithm::MlDsa65);
    let env = p.envelope(Publisher::statement(Some(m), 1));

    // Before any submission: neither a classical nor a PQ bundle with a made-up entry.
    let classical_key = Publisher::new(SignatureAlgorithm::EcdsaP256Sha256);
    let classical_env = classical_key.envelope(env.payload.clone());
    let classical = Bundle::new("hint".into(), classical_env, vec![]);
    push_refused(
        &mut push_bundle(&a, &base, repo, &model, &classical, "ecdsa-p256-sha256"),
        "classical, nothing logged",
    );

    let env2 = p.envelope(Publisher::statement(Some(m2), 2));
    let j2 = submit_ok(&a, &base, &p.submission(repo, None, m2, &env2));
    // A bundle over m whose entry (index j2) is the entry of another manifest.
    let mut fake = p.bundle(&env, &j2, ORIGIN);
    push_refused(
        &mut push_bundle(&a, &base, repo, &model, &fake, "ml-dsa-65"),
        "entry of another manifest",
    );
    // An entry that claims m but whose index holds different bytes.
    let forged = String::from_utf8(fake.tlog_entries[0].canonicalized_body.clone())
        .unwrap()
        .replace(&m2.to_string(), &m.to_string());
    fake.tlog_entries[0].canonicalized_body = forged.into_bytes();
    push_refused(
        &mut push_bundle(&a, &base, repo, &model, &fake, "ml-dsa-65"),
        "different bytes at the index",
    );
    // An index past the log.
    fake.tlog_entries[0].log_index = 1000;
    fake.tlog_entries[0].inclusion_proof.log_index = 1000;
    fake.tlog_entries[0].inclusion_proof.tree_size = 1001;
    push_refused(
        &mut push_bundle(&a, &base, repo, &model, &fake, "ml-dsa-65"),
        "index not in the log",
    );

    // The real thing: submit, then push the PQ bundle, then the classical one.
    let j = submit_ok(&a, &base, &p.submission(repo, Some("v1"), m, &env));
    let text = j["entry"].as_str().unwrap();
    let keyed = names == EntryNames::Hashed;
    assert_eq!(LogEntry::parse(text.as_bytes()).unwrap().is_keyed(), keyed);
    assert_eq!(text.contains(repo), !keyed, "{text}");
    let good = p.bundle(&env, &j, ORIGIN);
    // Named with another log's ID, the same entry is refused.
    let mut other_log = good.clone();
    other_log.tlog_entries[0].log_id = Digest::sha256(b"elsewhere/log").as_bytes().to_vec();
    push_refused(
        &mut push_bundle(&a, &base, repo, &model, &other_log, "ml-dsa-65"),
        "another log",
    );
    // Pushed under another repository (where the model also exists), it is refused too.
    let model_b = push_model(&a, &base, "acme/copy", "v1", b"w1");
    assert_eq!(model_b, model);
    push_refused(
        &mut push_bundle(&a, &base, "acme/copy", &model, &good, "ml-dsa-65"),
        "another repository",
    );
    let r = push_bundle(&a, &base, repo, &model, &good, "ml-dsa-65");
    assert_eq!(r.status(), 201);
    let r = push_bundle(&a, &base, repo, &model, &classical, "ecdsa-p256-sha256");
    assert_eq!(r.status(), 201);
    // A classical bundle over another statement is not covered by that entry.
    let other_stmt = classical_key.envelope(Publisher::statement(Some(m), 3));
    let classical2 = Bundle::new("hint".into(), other_stmt, vec![]);
    push_refused(
        &mut push_bundle(&a, &base, repo, &model, &classical2, "ecdsa-p256-sha256"),
        "classical, other statement",
    );
    // Both referrers are listed.
    let mut r = a
        .get(format!("{base}/v2/{repo}/referrers/{m}"))
        .call()
        .unwrap();
    let v: Value = serde_json::from_slice(&body(&mut r)).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    reg.stop();
}
