//! Log search (spec/transparency-log.md §8.3), inclusion proofs by leaf hash (§8.1),
//! witness cosignatures (§7) and the `log.origin` setting, over real HTTP.
#![allow(clippy::unwrap_used)]

use crate::common;

use crate::common::signed::{Publisher, log_verifier, push_model, submit_ok};
use crate::common::{agent, body, err_code, start};
use pqreg_spec::Digest;
use pqreg_spec::checkpoint::LogVerifier;
use pqreg_spec::keys::{KeyId, SignatureAlgorithm};
use pqreg_spec::merkle::{self, api::B64Hash};
use pqreg_spec::note::{Note, NoteSigner, SignatureType};
use serde_json::Value;

fn get(a: &ureq::Agent, url: &str) -> (u16, Value) {
    let mut r = a.get(url).call().unwrap();
    let st = r.status().as_u16();
    (st, serde_json::from_slice(&body(&mut r)).unwrap())
}

fn indices(v: &Value) -> Vec<u64> {
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect()
}

fn enc(s: &str) -> String {
    s.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[test]
fn search_filters_pages_and_leaf_hash_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let base = reg.url();
    let a = agent();
    // Entries 0, 1: tag moves of acme/a:v1 and acme/b:v1.
    let ma = Digest::sha256(&push_model(&a, &base, "acme/a", "v1", b"wa"));
    let mb = Digest::sha256(&push_model(&a, &base, "acme/b", "v1", b"wb"));
    let (p, q) = (
        Publisher::new(SignatureAlgorithm::MlDsa65),
        Publisher::new(SignatureAlgorithm::MlDsa65),
    );
    let kp = KeyId::of_spki_der(&p.key.verifying_key().to_spki_der());
    let kq = KeyId::of_spki_der(&q.key.verifying_key().to_spki_der());
    // Entries 2..=11: p signs a five times (tag rc on the odd ones), q signs b five times.
    let mut answers = Vec::new();
    for i in 0..5u64 {
        let env = p.envelope(Publisher::statement(Some(ma), i));
        let tag = (i % 2 == 1).then_some("rc");
        answers.push(submit_ok(&a, &base, &p.submission("acme/a", tag, ma, &env)));
        let env = q.envelope(Publisher::statement(Some(mb), i));
        answers.push(submit_ok(
            &a,
            &base,
            &q.submission("acme/b", None, mb, &env),
        ));
    }
    let s = |query: &str| get(&a, &format!("{base}/log/v1/search?{query}"));

    let (st, v) = s(&format!("manifest={ma}"));
    assert_eq!(st, 200);
    assert_eq!(v["size"], 12);
    assert_eq!(indices(&v), vec![0, 2, 4, 6, 8, 10]);
    assert!(v.get("next").is_none());
    assert_eq!(indices(&s(&format!("signer={kq}")).1), vec![3, 5, 7, 9, 11]);
    assert_eq!(indices(&s("repository=acme/b").1), vec![1, 3, 5, 7, 9, 11]);
    assert_eq!(indices(&s("tag=v1").1), vec![0, 1]);
    assert_eq!(indices(&s("tag=rc&repository=acme/a").1), vec![4, 8]);
    assert_eq!(
        indices(&s(&format!("signer={kp}&manifest={mb}")).1),
        Vec::<u64>::new()
    );
    assert_eq!(indices(&s("repository=acme/none").1), Vec::<u64>::new());
    // The entry text is the logged one.
    let (_, v) = s(&format!("signer={kp}&tag=rc"));
    assert_eq!(v["entries"][0]["entry"], answers[2]["entry"]);
    // Pages: limit, next, after.
    let (_, v) = s(&format!("manifest={ma}&limit=4"));
    assert_eq!(indices(&v), vec![0, 2, 4, 6]);
    assert_eq!(v["next"], 6);
    let (_, v) = s(&format!("manifest={ma}&limit=4&after=6"));
    assert_eq!(indices(&v), vec![8, 10]);
    assert!(v.get("next").is_none());
    // Refused: no filter, unknown or repeated parameter, bad digest, bad limit.
    for bad in [
        "",
        "after=3",
        "color=red",
        "tag=a&tag=b",
        "manifest=sha256:00",
        "tag=v1&limit=0",
        "tag=v1&limit=1001",
        "tag=v1&after=x",
    ] {
        let mut r = a.get(format!("{base}/log/v1/search?{bad}")).call().unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(err_code(&mut r), "UNSUPPORTED", "{bad}");
    }

    // Inclusion by leaf hash: the same answer as by index, and it verifies.
    let cp = a
        .get(format!("{base}/log/checkpoint"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    let note = Note::parse(&cp).unwrap();
    let c = pqreg_spec::checkpoint::Checkpoint::parse_body(note.text()).unwrap();
    let e7 = answers[5]["entry"].as_str().unwrap();
    let leaf = merkle::leaf_hash(e7.as_bytes());
    let b64 = B64Hash(leaf).to_string();
    let (st, by_leaf) = get(
        &a,
        &format!(
            "{base}/log/v1/proof/inclusion?leaf_hash={}&size=12",
            enc(&b64)
        ),
    );
    assert_eq!(st, 200);
    assert_eq!(by_leaf["index"], 7);
    let (_, by_index) = get(
        &a,
        &format!("{base}/log/v1/proof/inclusion?index=7&size=12"),
    );
    assert_eq!(by_leaf, by_index);
    let proof: Vec<merkle::Hash> = by_leaf["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| B64Hash::parse(h.as_str().unwrap()).unwrap().0)
        .collect();
    merkle::verify_inclusion(&leaf, 7, 12, &proof, &c.root).unwrap();
    // Below its index the leaf is unknown; both or neither of index and leaf_hash: 400.
    let mut r = a
        .get(format!(
            "{base}/log/v1/proof/inclusion?leaf_hash={}&size=7",
            enc(&b64)
        ))
        .call()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(err_code(&mut r), "LEAF_UNKNOWN");
    for bad in [
        format!("leaf_hash={}&index=7&size=12", enc(&b64)),
        "size=12".to_owned(),
        "leaf_hash=AAAA&size=12".to_owned(),
    ] {
        let r = a
            .get(format!("{base}/log/v1/proof/inclusion?{bad}"))
            .call()
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }

    // The index survives a restart.
    reg.stop();
    let reg = start(dir.path(), |_| {});
    let base = reg.url();
    let (_, v) = get(&a, &format!("{base}/log/v1/search?signer={kp}"));
    assert_eq!(indices(&v), vec![2, 4, 6, 8, 10]);
    reg.stop();
}

fn cosign(text_note: &[u8], w: &NoteSigner) -> Vec<u8> {
    let n = Note::parse(text_note).unwrap();
    let mut only = Note::new(n.text()).unwrap();
    only.sign(w, 1_764_115_230).unwrap();
    only.to_bytes()
}

fn post_cosig(a: &ureq::Agent, base: &str, body: &[u8]) -> common::Resp {
    a.post(format!("{base}/log/v1/cosignature"))
        .header("Content-Type", "text/plain; charset=utf-8")
        .send(body)
        .unwrap()
}

#[test]
fn witness_cosignatures_and_configured_origin() {
    let w1 = NoteSigner::generate("witness.test/w1", SignatureType::CosignatureEd25519).unwrap();
    let w2 = NoteSigner::generate("witness.test/w2", SignatureType::CosignatureMlDsa44).unwrap();
    let stranger =
        NoteSigner::generate("witness.test/w3", SignatureType::CosignatureEd25519).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let witnesses = vec![w1.verifier_key().to_string(), w2.verifier_key().to_string()];
    let w = witnesses.clone();
    let reg = start(dir.path(), move |c| {
        c.log.origin = Some("registry.test/log".into());
        c.log.witnesses = w;
    });
    let base = reg.url();
    let a = agent();
    push_model(&a, &base, "acme/a", "v1", b"wa");
    let cp = body(&mut a.get(format!("{base}/log/checkpoint")).call().unwrap());
    assert!(cp.starts_with(b"registry.test/log\n1\n"));
    let verifier = LogVerifier {
        witnesses: vec![w1.verifier_key().clone(), w2.verifier_key().clone()],
        witness_quorum: 2,
        ..log_verifier(&base, "registry.test/log")
    };
    assert!(verifier.open(&cp).is_err(), "no witness yet");

    // Refusals: garbage, a stranger, a bad signature, a checkpoint never published.
    let mut r = post_cosig(&a, &base, b"not a note");
    assert_eq!(
        (r.status().as_u16(), err_code(&mut r)),
        (400, "COSIGNATURE_INVALID".into())
    );
    let mut r = post_cosig(&a, &base, &cosign(&cp, &stranger));
    assert_eq!(
        (r.status().as_u16(), err_code(&mut r)),
        (403, "COSIGNATURE_INVALID".into())
    );
    let mut bad = Note::parse(&cosign(&cp, &w1)).unwrap();
    let mut sig = bad.signatures()[0].clone();
    sig.signature[20] ^= 1;
    bad.add_signature(sig).unwrap();
    let mut r = post_cosig(&a, &base, &bad.to_bytes());
    assert_eq!(
        (r.status().as_u16(), err_code(&mut r)),
        (403, "COSIGNATURE_INVALID".into())
    );
    let forged = String::from_utf8(cp.clone())
        .unwrap()
        .replacen("\n1\n", "\n2\n", 1);
    let mut r = post_cosig(&a, &base, &cosign(forged.as_bytes(), &w1));
    assert_eq!(
        (r.status().as_u16(), err_code(&mut r)),
        (409, "CHECKPOINT_UNKNOWN".into())
    );

    // Both witnesses cosign (the log's own lines in the body are ignored): quorum 2 met.
    assert_eq!(post_cosig(&a, &base, &cosign(&cp, &w1)).status(), 204);
    let mut with_log_lines = Note::parse(&cp).unwrap();
    with_log_lines.sign(&w2, 1_764_115_231).unwrap();
    assert_eq!(
        post_cosig(&a, &base, &with_log_lines.to_bytes()).status(),
        204
    );
    let served = body(&mut a.get(format!("{base}/log/checkpoint")).call().unwrap());
    let v = verifier.open(&served).unwrap();
    assert_eq!(v.signatures.len(), 4);
    assert!(served.starts_with(&cp[..cp.len() - 1]), "log lines first");

    // Kept across a restart; a new checkpoint is served without them.
    reg.stop();
    let w = witnesses.clone();
    let reg = start(dir.path(), move |c| c.log.witnesses = w);
    let base = reg.url();
    assert_eq!(
        body(&mut a.get(format!("{base}/log/checkpoint")).call().unwrap()),
        served
    );
    push_model(&a, &base, "acme/a", "v2", b"wb");
    let cp2 = body(&mut a.get(format!("{base}/log/checkpoint")).call().unwrap());
    assert!(cp2.starts_with(b"registry.test/log\n2\n"), "origin kept");
    assert!(verifier.open(&cp2).is_err());
    // The older checkpoint (still recent) may be cosigned late.
    assert_eq!(post_cosig(&a, &base, &cosign(&cp, &w1)).status(), 204);
    reg.stop();
}
