//! The transparency log from the client's side, end to end: the real `pqreg-registry`
//! binary on 127.0.0.1 and the real `pqreg` binary.
//!
//! - push submits to the log and pull verifies it (default policy: require_log = true);
//!   `pqreg log checkpoint|get|search|verify|monitor` against the same log;
//! - a rewound log (the registry restarted from a copy of an older data directory, as an
//!   operator restoring a backup would) and then a forked one (the restored log grows to
//!   the same size with other entries): pull, `log verify` and `log monitor` exit 13 and
//!   name both tree heads, the stored checkpoint is kept and evidence is saved;
//! - a hostile mirror (`[[logs]] url`, a proxy in front of the registry that flips tile
//!   bytes, breaks the checkpoint signature or swaps an entry): every command exits 13
//!   with the failed check named;
//! - offline proofs and `verify --offline`, proofs after the log grew, a witness quorum.
#![allow(clippy::unwrap_used)]

use crate::log_common::*;
use crate::registry_common::{start, start_in, start_in_env};

/// The `reason`s of a `log monitor -o json` run, in order.
fn reasons(m: &serde_json::Value) -> Vec<&str> {
    m["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect()
}

#[test]
fn push_pull_and_log_commands() {
    let reg = start();
    let h = Home::new();
    h.write_policy(&reg, None);
    let r1 = format!("{}/models/tiny:v1", reg.addr);
    let d1 = h.push_digest(&tiny(), &r1);
    // Pull with the default policy (require_log = true): the log is verified.
    let v = h.pull_json(&r1, "out1");
    assert_eq!(v["log_verified"], true, "{v}");
    let stored = h.state_dir(&reg).join("checkpoint");
    let first = std::fs::read(&stored).unwrap();
    assert!(first.starts_with(origin(&reg).as_bytes()));

    // A second model: its bundle's checkpoint is larger than the stored one, so pull
    // proves consistency from the tiles and advances the stored checkpoint.
    // With a classical OMS bundle too: the PQ bundle (logged) goes first, so the
    // registry accepts the classical one (it requires the statement to be logged).
    let m2 = variant(&h, "m2", "second");
    let r2 = format!("{}/models/other:v1", reg.addr);
    h.run_ok(&[
        "keygen",
        "--sign",
        "--alg",
        "ecdsa-p256",
        "--out",
        &h.p("classic"),
    ]);
    let d2 = h.push_digest_with(&m2, &r2, &["--classic-sign-key", &h.p("classic.key")]);
    let refs: serde_json::Value = serde_json::from_slice(&get(&format!(
        "http://{}/v2/models/other/referrers/{d2}",
        reg.addr
    )))
    .unwrap();
    assert_eq!(refs["manifests"].as_array().unwrap().len(), 2, "{refs}");
    h.pull_json(&r2, "out2");
    let second = std::fs::read(&stored).unwrap();
    assert_ne!(first, second);

    let cp = h.json(&["log", "checkpoint", &reg.addr]);
    let size = cp["size"].as_u64().unwrap();
    assert!(size >= 4, "{cp}");
    assert_eq!(cp["origin"], origin(&reg));
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        cp["note"].as_str().unwrap().as_bytes()
    );

    // Search by digest, key, repository: each hit verified included.
    let s = h.json(&["log", "search", &reg.addr, "--digest", &d1]);
    let hits = s["entries"].as_array().unwrap();
    assert!(!hits.is_empty(), "{s}");
    assert!(hits.iter().all(|e| e["fields"]["manifest"] == d1.as_str()));
    let sig = hits
        .iter()
        .find(|e| e["fields"]["kind"] == "signature")
        .unwrap();
    assert_eq!(sig["fields"]["signer"], h.key_id.as_str());
    let by_key = h.json(&["log", "search", &reg.addr, "--key", &h.key_id]);
    assert_eq!(by_key["entries"].as_array().unwrap().len(), 2, "{by_key}");
    let by_repo = h.json(&["log", "search", &reg.addr, "--repo", "models/other"]);
    assert!(
        by_repo["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["fields"]["manifest"] == d2.as_str())
    );

    // get: the entry at the signature's index, with its proof.
    let idx = sig["index"].as_u64().unwrap();
    let g = h.json(&["log", "get", &reg.addr, &idx.to_string()]);
    assert_eq!(g["entry"], sig["entry"]);
    let text = h.run_ok(&["log", "get", &reg.addr, &idx.to_string()]);
    assert!(
        text.starts_with("pqreg-log-entry/v1\nkind signature\n"),
        "{text}"
    );
    // Past the end: not found (3), said as such; not a failed log check (13) whose hint
    // would say "do not use the model".
    let o = h.run(&["log", "get", &reg.addr, &size.to_string()]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!(
            "entry {size} is past the end of the log {}: its newest checkpoint holds {size} entries",
            origin(&reg)
        )),
        "{err}"
    );
    assert!(!err.contains("do not use the model"), "{err}");
    // search prints the change, the policy's name for the signer and an RFC 3339 time.
    let f = &sig["fields"];
    assert_eq!(f["signer_name"], "release", "{f}");
    assert_eq!(f["change"], "signed (push or recipient change)", "{f}");
    let t = f["time_rfc3339"].as_str().unwrap();
    assert!(
        t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
        "{t}"
    );
    let lines = h.run_ok(&["log", "search", &reg.addr, "--key", &h.key_id]);
    assert!(
        lines.contains(&format!("\tsigner {} (release)\ttime 20", h.key_id)),
        "{lines}"
    );

    // A policy without the log: every log command refuses it (13), with the fix named.
    std::fs::write(h.path().join("nolog.toml"), "version = 1\n").unwrap();
    let err = h.fails_13(&["log", "verify", &reg.addr, "--policy", &h.p("nolog.toml")]);
    assert!(
        err.contains("no log with origin") && err.contains("add its keys to [[logs]]"),
        "{err}"
    );

    let v = h.json(&["log", "verify", &reg.addr]);
    assert_eq!(v["consistent"], true);
    assert_eq!(v["newest"]["size"], size);

    // monitor: first run reads every entry; the next reads only new ones.
    let m = h.json(&["log", "monitor", &reg.addr, "--key", &h.key_id]);
    let reports = m["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 2, "{m}");
    assert!(reports.iter().all(|r| r["reason"] == "watched-signer"));
    let m = h.json(&["log", "monitor", &reg.addr, "--key", &h.key_id]);
    assert_eq!(m["reports"].as_array().unwrap().len(), 0, "{m}");
    // A filter keeps its own position: after --key, a first --repo reports the whole
    // history of the repository (one position for all filters reported nothing here).
    let m = h.json(&["log", "monitor", &reg.addr, "--repo", "models/tiny"]);
    let got = reasons(&m);
    assert_eq!(got, ["watched-repository", "watched-repository"], "{m}");
    let kinds: Vec<&str> = m["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fields"]["change"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["tag moved", "signed (push or recipient change)"],
        "{m}"
    );
    let r3 = format!("{}/models/tiny:v2", reg.addr);
    h.push_digest(&variant(&h, "m3", "third"), &r3);
    let m = h.json(&[
        "log",
        "monitor",
        &reg.addr,
        "--repo",
        "models/tiny",
        "--key",
        &h.key_id,
    ]);
    let got = reasons(&m);
    // The tag move (watched repository; the manifest is pushed first) and the new
    // signature (watched key).
    assert_eq!(got, ["watched-repository", "watched-signer"], "{m}");
    // Someone whose key the policy does not list for models/* signs models/tiny.
    let intruder = Home::new();
    intruder.push_digest(
        &variant(&intruder, "m4", "fourth"),
        &format!("{}/models/tiny:v3", reg.addr),
    );
    let m = h.json(&["log", "monitor", &reg.addr, "--repo", "models/tiny"]);
    let got = reasons(&m);
    assert_eq!(got, ["watched-repository", "unexpected-signer"], "{m}");
    // The state directory holds only its files: no temporary file left behind.
    let mut names: Vec<String> = std::fs::read_dir(h.state_dir(&reg))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["checkpoint", "monitor"]);
}

/// The registry logs tag and manifest deletions (spec/transparency-log.md §3.1):
/// `log search`, `log get` and `log monitor` read the new kinds like the others.
#[test]
fn log_commands_read_deletion_entries() {
    let reg = start();
    let h = Home::new();
    h.write_policy(&reg, None);
    let d = h.push_digest(&tiny(), &format!("{}/models/gone:v1", reg.addr));
    let url = format!("http://{}/v2/models/gone/manifests", reg.addr);
    let r = ureq::delete(&format!("{url}/v1")).call().unwrap();
    assert_eq!(r.status(), 202);
    let r = ureq::delete(&format!("{url}/{d}")).call().unwrap();
    assert_eq!(r.status(), 202);

    let s = h.json(&["log", "search", &reg.addr, "--repo", "models/gone"]);
    let kinds: Vec<&str> = s["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fields"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["tag", "signature", "tag-delete", "manifest-delete"],
        "{s}"
    );
    let last = s["entries"].as_array().unwrap().last().unwrap();
    assert_eq!(last["fields"]["manifest"], d.as_str());
    let idx = last["index"].as_u64().unwrap().to_string();
    let text = h.run_ok(&["log", "get", &reg.addr, &idx]);
    assert!(
        text.starts_with("pqreg-log-entry/v1\nkind manifest-delete\nrepository models/gone\n"),
        "{text}"
    );
    let m = h.json(&["log", "monitor", &reg.addr, "--repo", "models/gone"]);
    assert_eq!(
        reasons(&m),
        [
            "watched-repository",
            "watched-repository",
            "watched-repository",
            "watched-repository"
        ],
        "{m}"
    );
    let lines = h.run_ok(&["log", "search", &reg.addr, "--repo", "models/gone"]);
    assert!(lines.contains("\ttag-delete\tmodels/gone:v1@"), "{lines}");
}

#[test]
fn rewound_then_forked_log() {
    let data = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let h = Home::new();
    let m2 = variant(&h, "m2", "second");
    let m2b = variant(&h, "m2b", "second, other branch");

    // v1 on the log; the operator takes a backup (registry stopped).
    let reg = start_in(data.path());
    h.write_policy(&reg, None);
    let first = reg.addr.clone();
    h.push_digest(&tiny(), &format!("{}/models/tiny:v1", reg.addr));
    drop(reg);
    copy_dir(data.path(), backup.path());
    // v2 is logged and pulled: the client stores the larger checkpoint. (Each restart
    // listens on a new port: the policy names the log's registry at its current
    // address, spec/signing.md §7.5.)
    let reg = start_in(data.path());
    h.write_policy(&reg, None);
    let r2 = format!("{}/models/tiny:v2", reg.addr);
    h.push_digest(&m2, &r2);
    h.pull_json(&r2, "out2");
    let stored_path = h.state_dir(&reg).join("checkpoint");
    let stored = std::fs::read(&stored_path).unwrap();
    h.run_ok(&["log", "verify", &reg.addr]);
    drop(reg);

    // The backup is restored: same keys, same origin, a smaller tree.
    let restored = start_in(backup.path());
    h.write_policy(&restored, None);
    // v1 was signed for the first address: the restored one serves it as a mirror.
    let policy = h.path().join("config").join("pqreg").join("policy.toml");
    let mut text = std::fs::read_to_string(&policy).unwrap();
    text.push_str(&format!(
        "\n[[mirrors]]\npull = \"{}/models\"\nsigned = \"{first}/models\"\n",
        restored.addr
    ));
    std::fs::write(&policy, text).unwrap();
    let r1 = format!("{}/models/tiny:v1", restored.addr);
    let err = h.pull_fails_13(&r1, "out1");
    assert!(err.contains("rewound"), "{err}");
    let err = h.fails_13(&["log", "verify", &restored.addr]);
    assert!(
        err.contains("rewound") && err.matches("(size ").count() == 2,
        "{err}"
    );
    h.fails_13(&["log", "monitor", &restored.addr, "--key", &h.key_id]);
    assert_eq!(std::fs::read(&stored_path).unwrap(), stored);
    assert!(evidence_count(&h, &restored) >= 3);

    // The restored log grows again with other entries to the same size: a fork. (Pushed
    // by a publisher whose client has not seen the other branch: ours would refuse, its
    // stored checkpoint is the larger one.)
    let other = Home::new();
    for f in ["signer.key", "signer.pub", "rcpt.pub"] {
        std::fs::copy(h.path().join(f), other.path().join(f)).unwrap();
    }
    let r2b = format!("{}/models/tiny:v2", restored.addr);
    other.push_digest(&m2b, &r2b);
    let err = h.fails_13(&["log", "verify", &restored.addr]);
    assert!(
        err.contains("inconsistent") && err.matches("(size ").count() == 2,
        "{err}"
    );
    let err = h.pull_fails_13(&r2b, "out2b");
    assert!(err.contains("inconsistent"), "{err}");
    h.fails_13(&["log", "checkpoint", &restored.addr]);
    assert_eq!(std::fs::read(&stored_path).unwrap(), stored);
}

#[test]
fn hostile_mirror() {
    let reg = start();
    let mirror = Mirror::start(&reg.addr);
    // A publisher pushes; a consumer, reading the log through the mirror, pulls.
    let publisher = Home::new();
    publisher.write_policy(&reg, None);
    let consumer = Home::new();
    for f in ["signer.pub", "rcpt.pub", "rcpt.key"] {
        std::fs::copy(publisher.path().join(f), consumer.path().join(f)).unwrap();
    }
    consumer.write_policy(&reg, Some(&mirror.url()));
    let r1 = format!("{}/models/tiny:v1", reg.addr);
    let r2 = format!("{}/models/tiny:v2", reg.addr);
    publisher.push_digest(&tiny(), &r1);
    consumer.pull_json(&r1, "out1");
    publisher.push_digest(&variant(&publisher, "m2", "second"), &r2);
    let stored_path = consumer.state_dir(&reg).join("checkpoint");
    let stored = std::fs::read(&stored_path).unwrap();

    // Flipped tile bytes: the consistency proof computed from them fails.
    mirror.set(Tamper::TileByte);
    let err = consumer.pull_fails_13(&r2, "out2");
    assert!(err.contains("inconsistent"), "{err}");
    let err = consumer.fails_13(&["log", "verify", &reg.addr]);
    assert!(err.contains("inconsistent"), "{err}");
    consumer.fails_13(&["log", "monitor", &reg.addr, "--key", &consumer.key_id]);
    assert_eq!(std::fs::read(&stored_path).unwrap(), stored);

    // A broken log signature on the newest checkpoint.
    mirror.set(Tamper::CheckpointSig);
    let err = consumer.fails_13(&["log", "checkpoint", &reg.addr]);
    assert!(err.contains("checkpoint of"), "{err}");
    consumer.pull_fails_13(&r2, "out2");
    assert_eq!(std::fs::read(&stored_path).unwrap(), stored);

    // Entries that are not the leaves the tiles commit to.
    mirror.set(Tamper::EntrySwap);
    let err = consumer.fails_13(&["log", "get", &reg.addr, "0"]);
    assert!(err.contains("is not included"), "{err}");
    let err = consumer.fails_13(&["log", "monitor", &reg.addr, "--key", &consumer.key_id]);
    assert!(err.contains("is not included"), "{err}");

    // The honest mirror: everything verifies and the monitor sees both signatures.
    mirror.set(Tamper::Nothing);
    consumer.pull_json(&r2, "out2");
    assert_ne!(std::fs::read(&stored_path).unwrap(), stored);
    let m = consumer.json(&["log", "monitor", &reg.addr, "--key", &publisher.key_id]);
    assert_eq!(m["reports"].as_array().unwrap().len(), 2, "{m}");
}

#[test]
fn offline_proof_and_verify() {
    let reg = start();
    let h = Home::new();
    h.write_policy(&reg, None);
    let r1 = format!("{}/models/tiny:v1", reg.addr);
    let r2 = format!("{}/models/tiny:v2", reg.addr);
    let d1 = h.push_digest(&tiny(), &r1);
    h.push_digest(&variant(&h, "m2", "second"), &r2);
    let p1 = h.p("v1.tlog-proof");
    let v = h.json(&[
        "log",
        "proof",
        &r1,
        "--out",
        &p1,
        "--layout",
        &h.p("layout"),
    ]);
    assert_eq!(v["checkpoint"]["size"], 4, "{v}");
    let text = std::fs::read_to_string(&p1).unwrap();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "), "{text}");
    // Without --out the proof is printed.
    let p2 = h.p("v2.tlog-proof");
    std::fs::write(&p2, h.run_ok(&["log", "proof", &r2])).unwrap();
    let addr = reg.addr.clone();
    drop(reg);

    // Another machine, no network: the layout and the proof suffice.
    let offline = Home::new();
    for f in ["signer.pub", "rcpt.key"] {
        std::fs::copy(h.path().join(f), offline.path().join(f)).unwrap();
    }
    std::fs::create_dir_all(offline.path().join("config/pqreg")).unwrap();
    std::fs::copy(
        h.path().join("config/pqreg/policy.toml"),
        offline.path().join("config/pqreg/policy.toml"),
    )
    .unwrap();
    let verify = |proof: &str| {
        vec![
            "verify".to_owned(),
            format!("{addr}/models/tiny@{d1}"),
            "--offline".into(),
            "--layout".into(),
            h.p("layout"),
            "--proof".into(),
            proof.to_owned(),
            "--identity".into(),
            offline.p("rcpt.key"),
        ]
    };
    let args = verify(&p1);
    let mut a: Vec<&str> = vec!["-o", "json"];
    a.extend(args.iter().map(String::as_str));
    let v: serde_json::Value = serde_json::from_str(&offline.run_ok(&a)).unwrap();
    assert_eq!(v["log_verified"], true, "{v}");
    assert_eq!(v["offline"], true);
    // The tag in the layout names the same model.
    offline.run_ok(&[
        "verify",
        &r1,
        "--offline",
        "--layout",
        &h.p("layout"),
        "--proof",
        &p1,
        "--identity",
        &offline.p("rcpt.key"),
    ]);

    // The proof of the other model's entry.
    let args = verify(&p2);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = offline.fails_13(&a);
    assert!(err.contains("another entry"), "{err}");
    // A flipped proof hash.
    let bad = h.p("bad.tlog-proof");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let l = &mut lines[3];
    let c = if l.starts_with('A') { "B" } else { "A" };
    l.replace_range(0..1, c);
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let args = verify(&bad);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = offline.fails_13(&a);
    assert!(err.contains("is not included"), "{err}");
    // Truncated: no checkpoint.
    std::fs::write(&bad, &text[..text.find("\n\n").unwrap() + 1]).unwrap();
    let err = offline.fails_13(&a);
    assert!(err.contains("proof file"), "{err}");
}

/// A checkpoint read, then the log grows: the registry drops the partial tiles and entry
/// bundles of the old size, and the client reads the same hashes from the wider ones.
#[test]
fn proofs_for_an_older_checkpoint_after_growth() {
    use pqreg::tlog::{Log, LogClient};
    let reg = start();
    let h = Home::new();
    h.write_policy(&reg, None);
    h.push_digest(&tiny(), &format!("{}/models/tiny:v1", reg.addr));
    let text = std::fs::read_to_string(h.path().join("config/pqreg/policy.toml")).unwrap();
    let policy = pqreg_spec::policy::Policy::from_toml(&text).unwrap();
    let plog = policy.log(&origin(&reg)).unwrap();
    let client = LogClient::for_registry(&reg.addr, None).unwrap();
    let state = tempfile::tempdir().unwrap();
    let log = Log::new(&client, &plog.verifier, state.path());
    let old = log.latest().unwrap();
    assert_eq!(old.checkpoint.size, 2);
    h.push_digest(
        &variant(&h, "m2", "second"),
        &format!("{}/models/tiny:v2", reg.addr),
    );
    // The registry serves the old width as the first hashes of the current tile
    // (spec/transparency-log.md §8), so proofs for the older size read it directly.
    let old_width = ureq::get(format!("http://{}/log/tile/0/000.p/2", reg.addr))
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    assert_eq!(old_width.len(), 2 * 32);
    for i in 0..2 {
        let entry = log.entry(i, 2).unwrap();
        let mut tiles = log.tiles(2);
        log.check_inclusion(&mut tiles, &entry, i, &old).unwrap();
    }
}

/// A policy that requires one witness: bundles' checkpoints (signed before any witness saw
/// them) are accepted only once the log's newest checkpoint is cosigned and consistent.
#[test]
fn witness_quorum() {
    use pqreg_spec::note::{NoteSigner, SignatureType};
    let w = NoteSigner::from_seed(
        "witness.example/w1",
        SignatureType::CosignatureEd25519,
        &[3; 32],
    )
    .unwrap();
    let vkey = w.verifier_key().to_string();
    let data = tempfile::tempdir().unwrap();
    let reg = start_in_env(
        data.path(),
        &[("PQREG_REGISTRY__LOG__WITNESSES", &format!("[\"{vkey}\"]"))],
    );
    let h = Home::new();
    h.write_policy(&reg, None);
    let policy = h.path().join("config/pqreg/policy.toml");
    let mut text = std::fs::read_to_string(&policy).unwrap();
    text.push_str(&format!("witnesses = [\"{vkey}\"]\nquorum = 1\n"));
    std::fs::write(&policy, text).unwrap();

    let r1 = format!("{}/models/tiny:v1", reg.addr);
    h.push_digest(&tiny(), &r1);
    let err = h.fails_13(&["log", "checkpoint", &reg.addr]);
    assert!(err.contains("witness cosignatures verified"), "{err}");
    let err = h.pull_fails_13(&r1, "out0");
    assert!(err.contains("witness cosignatures verified"), "{err}");

    cosign(&reg, &w);
    let cp = h.json(&["log", "checkpoint", &reg.addr]);
    let sigs = cp["signatures"].as_array().unwrap();
    assert!(
        sigs.iter()
            .any(|s| s.as_str().unwrap().starts_with("witness.example/w1+")),
        "{cp}"
    );
    h.pull_json(&r1, "out1");

    // A newer model: its pull needs the log's newest checkpoint cosigned again.
    let r2 = format!("{}/models/tiny:v2", reg.addr);
    h.push_digest(&variant(&h, "m2", "second"), &r2);
    h.pull_fails_13(&r2, "out2");
    cosign(&reg, &w);
    h.pull_json(&r2, "out2");
}
