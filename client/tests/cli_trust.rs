//! Issue 16, "Trust without hand-written TOML" and "pqreg verify REF without a key", over
//! real HTTP with the real CLI: `pqreg trust init/add-signer/add-log/show/check` build a
//! policy a pull then passes with; `add-log` pins the log's keys only with the right
//! fingerprints; a reference no rule covers is refused naming the gap (exit 12), never
//! with a signature error; `pqreg verify` without a decryption key passes on a good model
//! and fails with exit 10 on a tampered chunk blob (spec/signing.md §6.1, §7.6).
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;

use crate::cli_common::{Home, exits, ok, tiny};
use crate::registry_common::{Registry, start};
use pqreg_spec::Digest;
use serde_json::Value;

fn get(url: &str, accept: &str) -> Vec<u8> {
    ureq::get(url)
        .header("Accept", accept)
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap()
}

/// The log's keys as the registry serves them, and their fingerprints.
fn log_keys(reg: &Registry) -> (Vec<String>, Vec<String>) {
    let body = get(&format!("http://{}/log/v1/keys", reg.addr), "text/plain");
    let keys: Vec<String> = String::from_utf8(body)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let fps = keys
        .iter()
        .map(|k| Digest::sha256(k.as_bytes()).to_string())
        .collect();
    (keys, fps)
}

fn json(o: &std::process::Output) -> Value {
    serde_json::from_str(&ok(o)).unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `trust init`, `add-signer release signer.pub --repos ADDR/models/*` and `add-log ADDR`
/// with the right fingerprints, all into `trust.toml`.
fn trusted(h: &Home, reg: &Registry) -> String {
    let policy = h.p("trust.toml");
    ok(&h.run(&["trust", "init", "--policy", &policy]));
    let pattern = format!("{}/models/*", reg.addr);
    let signer = h.p("signer.pub");
    ok(&h.run(&[
        "trust",
        "add-signer",
        "release",
        &signer,
        "--repos",
        &pattern,
        "--policy",
        &policy,
    ]));
    let (_, fps) = log_keys(reg);
    let mut args = vec!["trust", "add-log", reg.addr.as_str(), "--policy", &policy];
    for f in &fps {
        args.extend(["--fingerprint", f]);
    }
    ok(&h.run(&args));
    policy
}

#[test]
fn trust_commands_build_a_policy_a_pull_passes_with() {
    let reg = start();
    let h = Home::new();
    let policy = h.p("trust.toml");
    ok(&h.run(&["trust", "init", "--policy", &policy]));
    let meta = std::fs::metadata(&policy).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let initial = std::fs::read_to_string(&policy).unwrap();
    // init never overwrites.
    exits(
        &h.run(&["trust", "init", "--policy", &policy]),
        1,
        "second init",
    );
    assert_eq!(std::fs::read_to_string(&policy).unwrap(), initial);
    // A comment the user adds survives every edit.
    std::fs::write(&policy, format!("{initial}# ops: reviewed by alice\n")).unwrap();

    let pattern = format!("{}/models/*", reg.addr);
    let o = h.run(&[
        "-o",
        "json",
        "trust",
        "add-signer",
        "release",
        &h.p("signer.pub"),
        "--repos",
        &pattern,
        "--policy",
        &policy,
    ]);
    let v = json(&o);
    assert_eq!(v["alg"], "ml-dsa-65");

    // add-log: the keys fetched over HTTP are pinned only with the right fingerprints.
    let (keys, fps) = log_keys(&reg);
    assert_eq!(keys.len(), 2, "{keys:?}");
    let before = std::fs::read_to_string(&policy).unwrap();
    let o = h.run(&["trust", "add-log", &reg.addr, "--policy", &policy]);
    exits(
        &o,
        2,
        "add-log without --fingerprint and without a terminal",
    );
    assert!(stderr(&o).contains(&fps[0]), "{}", stderr(&o));
    let wrong = Digest::sha256(b"not the key").to_string();
    let o = h.run(&[
        "trust",
        "add-log",
        &reg.addr,
        "--fingerprint",
        &fps[0],
        "--fingerprint",
        &wrong,
        "--policy",
        &policy,
    ]);
    exits(&o, 13, "add-log with a wrong fingerprint");
    // Only one of the two keys vouched for: refused too.
    let o = h.run(&[
        "trust",
        "add-log",
        &reg.addr,
        "--fingerprint",
        &fps[0],
        "--policy",
        &policy,
    ]);
    exits(&o, 13, "add-log with one fingerprint of two");
    assert_eq!(std::fs::read_to_string(&policy).unwrap(), before);
    let o = h.run(&[
        "trust",
        "add-log",
        &reg.addr,
        "--fingerprint",
        &fps[0],
        "--fingerprint",
        &fps[1],
        "--policy",
        &policy,
    ]);
    ok(&o);
    let text = std::fs::read_to_string(&policy).unwrap();
    assert!(text.contains("# ops: reviewed by alice"), "{text}");
    assert!(text.contains("# pqreg trust policy"), "{text}");
    let meta = std::fs::metadata(&policy).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let show = json(&h.run(&["-o", "json", "trust", "show", "--policy", &policy]));
    assert_eq!(show["keys"][0]["name"], "release");
    assert_eq!(show["logs"][0]["fingerprints"][1], fps[1].as_str());
    assert_eq!(show["logs"][0]["registries"][0], reg.addr.as_str());

    let r = format!("{}/models/tiny:v1", reg.addr);
    let check = json(&h.run(&["-o", "json", "trust", "check", &r, "--policy", &policy]));
    assert_eq!(check["rules"].as_array().unwrap().len(), 1);
    assert_eq!(check["rules"][0]["signers"][0]["name"], "release");
    assert_eq!(check["log_required"], true);
    assert_eq!(check["logs"].as_array().unwrap().len(), 1);

    // The policy written by the commands alone is enough for a pull (log required).
    ok(&h.push(&tiny(), &r, "signer.key", &[]));
    let o = h.pull(&r, "out", "rcpt.key", &[]);
    let v = json(&o);
    assert_eq!(v["log_verified"], true);
}

#[test]
fn a_classical_signer_needs_the_explicit_opt_out() {
    let h = Home::new();
    let policy = h.p("trust.toml");
    ok(&h.run(&["trust", "init", "--policy", &policy]));
    ok(&h.run(&[
        "keygen",
        "--sign",
        "--alg",
        "ecdsa-p256",
        "--out",
        &h.p("legacy"),
    ]));
    let args = |extra: &'static [&'static str]| {
        let mut a = vec![
            "trust".to_owned(),
            "add-signer".into(),
            "legacy".into(),
            h.p("legacy.pub"),
            "--repos".into(),
            "registry.example/sandbox/*".into(),
            "--policy".into(),
            policy.clone(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let a = args(&[]);
    let o = h.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    exits(&o, 1, "classical key without --allow-classical");
    assert!(stderr(&o).contains("--allow-classical"), "{}", stderr(&o));
    let a = args(&["--allow-classical"]);
    ok(&h.run(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    let show = json(&h.run(&["-o", "json", "trust", "show", "--policy", &policy]));
    assert_eq!(show["rules"][0]["min_algorithm"], "ecdsa-p256-sha256");
}

#[test]
fn a_reference_no_rule_covers_is_refused_naming_the_gap() {
    let reg = start();
    let h = Home::new();
    let policy = trusted(&h, &reg);
    // The model exists and is validly signed; only the policy has no rule for the name
    // pulled (localhost instead of 127.0.0.1, as in the issue).
    let r = format!("{}/models/tiny:v1", reg.addr);
    ok(&h.push(&tiny(), &r, "signer.key", &[]));
    let port = reg.addr.rsplit(':').next().unwrap();
    let other = format!("localhost:{port}/models/tiny:v1");
    let o = h.run(&[
        "pull",
        &other,
        &h.p("out"),
        "--identity",
        &h.p("rcpt.key"),
        "--policy",
        &policy,
    ]);
    exits(&o, 12, "pull of an uncovered reference");
    let e = stderr(&o);
    let want = format!(
        "no rule in {policy} covers localhost:{port}/models/tiny; the rules cover {}/models/*",
        reg.addr
    );
    assert!(e.contains(&want), "{e}");
    assert!(e.contains("pqreg trust add-signer"), "{e}");
    assert!(!e.to_lowercase().contains("dsse"), "{e}");
    assert!(!h.path().join("out").exists());
    // The same gap from verify and from trust check.
    let o = h.run(&["verify", &other, "--policy", &policy]);
    exits(&o, 12, "verify of an uncovered reference");
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));
    let o = h.run(&["trust", "check", &other, "--policy", &policy]);
    exits(&o, 12, "check of an uncovered reference");
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));
}

#[test]
fn verify_without_a_key_checks_every_blob_and_says_what_it_could_not() {
    let reg = start();
    let h = Home::new();
    let policy = trusted(&h, &reg);
    let r = format!("{}/models/tiny:v1", reg.addr);
    let pushed = json(&h.push(&tiny(), &r, "signer.key", &[]));
    let digest: Digest = pushed["digest"].as_str().unwrap().parse().unwrap();
    let by_digest = format!("{}/models/tiny@{digest}", reg.addr);

    let o = h.run(&["-o", "json", "verify", &by_digest, "--policy", &policy]);
    let v = json(&o);
    assert_eq!(v["encrypted"], true);
    assert_eq!(v["log_verified"], true);
    assert_eq!(v["plaintext_hashed"], false);
    assert!(v["layers"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["unchecked"].as_array().unwrap().len(), 3, "{v}");
    // Text mode says it too.
    let o = h.run(&["verify", &by_digest, "--policy", &policy]);
    ok(&o);
    assert!(
        stderr(&o).contains("not checked without the decryption key"),
        "{}",
        stderr(&o)
    );

    // One bit of one chunk layer flipped in the registry's store: exit 10.
    let manifest: Value = serde_json::from_slice(&get(
        &format!("http://{}/v2/models/tiny/manifests/{digest}", reg.addr),
        "application/vnd.oci.image.manifest.v1+json",
    ))
    .unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    let chunk: Digest = layers.last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let hex = chunk.hex();
    let path = reg
        .data_dir()
        .join("blobs/sha256")
        .join(&hex[..2])
        .join(&hex);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let _ = std::fs::remove_dir_all(h.path().join("cache"));
    let o = h.run(&["verify", &by_digest, "--policy", &policy]);
    exits(&o, 10, "verify without a key of a tampered chunk blob");
}
