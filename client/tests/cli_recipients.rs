//! `pqreg inspect` and `recipients add|remove` (the binary) against the real
//! `pqreg-registry` on 127.0.0.1, and `-o json` of every command checked against the
//! shapes documented in client/OUTPUT.md (with `cli_copy.rs`).
//!
//! - inspect: recipients, layers, signatures and their log entries; verification under a
//!   trusted and an untrusted policy.
//! - recipients: a recipient change uploads the new config and bundle only (counted with
//!   the registry's `/metrics`: no chunk is re-uploaded), the new manifest has the same
//!   layers; the added key decrypts, the removed key no longer opens the new manifest
//!   (exit 14); a wrong identity exits 14 and changes nothing; a version signed by
//!   another key is refused (exit 12) unless a policy trusts it.
//!   Each new signature is logged (policies here require the log, with `[[logs]]`).
#![allow(clippy::unwrap_used)]

use std::process::Command;

use serde_json::Value;

use crate::cli_common::{files, pqreg, tiny};
use crate::model_common::{
    Keys, check_doc, exits, fails, json, policy, recipient_ids, show, uploads,
};
use crate::registry_common;
use crate::registry_common::start_with_origin;

#[test]
fn inspect_and_recipients() {
    let reg = start_with_origin("models.test/log");
    let k = Keys::new();
    let h = k.h();
    policy(&h.join("trust.toml"), &h.join("signer.pub"), &[&reg]);
    policy(&h.join("untrust.toml"), &h.join("other.pub"), &[&reg]);
    let r = format!("{}/models/tiny:v1", reg.addr);
    let pushed = k.push(&reg, "models/tiny:v1", "a", "signer");
    let d0 = pushed["digest"].as_str().unwrap().to_owned();
    let (id_a, id_b) = (k.key_id("a"), k.key_id("b"));
    let signer = k.key_id("signer");

    // inspect without a policy: what the bundles claim, nothing verified.
    let i0 = json(h, &["inspect", &r]);
    check_doc("inspect", &i0);
    assert_eq!(i0["digest"], d0.as_str());
    assert_eq!(i0["artifact_type"], "application/vnd.pqreg.model.v1");
    assert_eq!(i0["encrypted"], true);
    assert_eq!(recipient_ids(&i0), vec![id_a.clone()]);
    assert_eq!(i0["recipients"][0]["kem"], "x-wing");
    assert_eq!(i0["layers"]["count"], pushed["chunks"]);
    assert!(i0["layers"]["total_bytes"].as_u64().unwrap() > 0);
    let sigs = i0["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0]["algorithm"], "ml-dsa-65");
    assert_eq!(sigs[0]["key_hint"], signer.as_str());
    assert_eq!(sigs[0]["statement_manifest"], d0.as_str());
    assert_eq!(sigs[0]["verification"], Value::Null);
    assert_eq!(i0["policy"], Value::Null);
    // push logged the signature: the entry the bundle carries.
    let e = &sigs[0]["log_entries"][0];
    assert_eq!(sigs[0]["log_entries"].as_array().unwrap().len(), 1);
    assert_eq!(e["kind"], "signature");
    assert_eq!(e["repository"], "models/tiny");
    assert_eq!(e["tag"], "v1");
    assert_eq!(e["manifest"], d0.as_str());
    assert_eq!(e["origin"], "models.test/log");
    assert!(e["index"].as_u64().unwrap() < e["tree_size"].as_u64().unwrap());
    // With policies: trusted, then untrusted.
    let i1 = json(h, &["inspect", &r, "--policy", &k.p("trust.toml")]);
    check_doc("inspect", &i1);
    let v = &i1["signatures"][0]["verification"];
    assert_eq!(
        (v["verified"].clone(), v["signer"].clone()),
        (Value::Bool(true), Value::String(signer.clone()))
    );
    assert_eq!(v["log"], "verified");
    let i2 = json(h, &["inspect", &r, "--policy", &k.p("untrust.toml")]);
    let v = &i2["signatures"][0]["verification"];
    assert_eq!(v["verified"], false);
    assert_eq!(v["error_code"], "UNTRUSTED_SIGNER");
    // Text mode.
    let o = pqreg(h, &["inspect", &r]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains(&format!("recipients     1\n  {id_a}  x-wing\n")),
        "{text}"
    );
    assert!(text.contains("not verified (no trust policy)"), "{text}");

    // recipients add b: only the new config and the bundle are uploaded.
    let before = uploads(&reg);
    let o = k.recipients("add", &r, "b", "a");
    assert!(o.status.success(), "{}", show(&o));
    let added: Value = serde_json::from_slice(&o.stdout).unwrap();
    check_doc("recipients", &added);
    assert_eq!(uploads(&reg) - before, 2, "{added}");
    assert_eq!(added["uploaded_blobs"], 2);
    assert_eq!(added["previous_digest"], d0.as_str());
    assert_eq!(added["tag"], "v1");
    let d1 = added["digest"].as_str().unwrap().to_owned();
    assert_ne!(d1, d0);
    let i3 = json(h, &["inspect", &r]);
    assert_eq!(i3["digest"], d1.as_str());
    let mut both = vec![id_a.clone(), id_b.clone()];
    both.sort();
    assert_eq!(recipient_ids(&i3), both);
    assert_eq!(added["recipients"], serde_json::json!(both));
    // Same index and chunk layers; a new config.
    assert_eq!(i3["index"], i0["index"]);
    assert_eq!(i3["layers"], i0["layers"]);
    assert_ne!(i3["config"]["digest"], i0["config"]["digest"]);
    assert_eq!(
        added["reused_layers"],
        i0["layers"]["count"].as_u64().unwrap() + 1
    );
    // Both keys decrypt the new version; the new signature verifies.
    for (id, out) in [("a", "out-a"), ("b", "out-b")] {
        let o = k.pull(&r, id, out);
        assert!(o.status.success(), "{}", show(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        check_doc("pull", &v);
        assert_eq!(v["digest"], d1.as_str());
        assert_eq!(files(&h.join(out)), files(&tiny()));
    }

    // Negative cases change nothing.
    let e = exits(
        &k.recipients_by("add", &r, &k.p("c.pub"), "c", "signer"),
        14,
    );
    assert!(e.contains("envelope has no entry"), "{e}");
    let o = k.recipients("add", &r, "a", "a");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err: Value = serde_json::from_slice(&o.stdout).unwrap();
    check_doc("error", &err);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already a recipient")
    );
    let e = exits(
        &k.recipients_by("remove", &r, &k.p("c.pub"), "a", "signer"),
        1,
    );
    assert!(e.contains("is not a recipient"), "{e}");
    // A version signed by `signer` is not re-signed by `other` without a policy saying so.
    let e = exits(&k.recipients_by("add", &r, &k.p("c.pub"), "a", "other"), 12);
    assert!(
        e.contains("signed only by keys that are not accepted"),
        "{e}"
    );
    assert_eq!(json(h, &["inspect", &r])["digest"], d1.as_str());

    // remove a (by key ID, with b's identity): a can no longer open the new manifest.
    let o = k.recipients_by("remove", &r, &id_a, "b", "signer");
    assert!(o.status.success(), "{}", show(&o));
    let removed: Value = serde_json::from_slice(&o.stdout).unwrap();
    check_doc("recipients", &removed);
    assert_eq!(removed["recipients"], serde_json::json!([id_b]));
    assert_eq!(removed["key_id"], id_a.as_str());
    let o = k.pull(&r, "a", "out-a2");
    assert_eq!(o.status.code(), Some(14), "{}", show(&o));
    assert!(!h.join("out-a2").exists());
    let err: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(err["error"]["name"], "DECRYPTION");
    let o = k.pull(&r, "b", "out-b2");
    assert!(o.status.success(), "{}", show(&o));
    // The removed key still opens the version it was a recipient of (it keeps what it was
    // given; spec/encryption.md §4.4).
    let old = format!("{}/models/tiny@{d1}", reg.addr);
    let o = k.pull(&old, "a", "out-a3");
    assert!(o.status.success(), "{}", show(&o));
    // The last recipient cannot be removed.
    let e = exits(
        &k.recipients_by("remove", &r, &k.p("b.pub"), "b", "signer"),
        1,
    );
    assert!(e.contains("only recipient"), "{e}");
    // An unencrypted model has no recipients to change.
    let open = format!("{}/models/open:v1", reg.addr);
    json(
        h,
        &[
            "push",
            tiny().to_str().unwrap(),
            &open,
            "--unencrypted",
            "--sign-key",
            &k.p("signer.key"),
        ],
    );
    let i = json(h, &["inspect", &open]);
    assert_eq!(
        (i["encrypted"].clone(), i["recipients"].clone()),
        (Value::Bool(false), serde_json::json!([]))
    );
    let e = exits(
        &k.recipients_by("add", &open, &k.p("c.pub"), "a", "signer"),
        1,
    );
    assert!(e.contains("is not encrypted"), "{e}");
    // With --policy, the current version is verified under it (signature and log entry),
    // so another key may re-sign; a puller trusting only `signer` then refuses (12).
    let o = pqreg(
        h,
        &[
            "-o",
            "json",
            "recipients",
            "add",
            &r,
            &k.p("c.pub"),
            "--identity",
            &k.p("b.key"),
            "--sign-key",
            &k.p("other.key"),
            "--policy",
            &k.p("trust.toml"),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["previous_signer"], signer.as_str());
    assert_eq!(v["signer"], k.key_id("other").as_str());
    exits(&k.pull(&r, "c", "out-c"), 12);
    // Missing flags are usage errors.
    fails(h, &["recipients", "add", &r, &k.p("c.pub")], 2);
}

/// keygen, env, login and logout in JSON (push, pull, verify, inspect, recipients and
/// copy are checked above).
#[test]
fn json_of_local_commands() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // login checks the credentials with the registry: an open one accepts anything.
    let reg = registry_common::start();
    let host = reg.addr.clone();
    check_doc(
        "keygen",
        &json(
            h,
            &[
                "keygen",
                "--recipient",
                "--out",
                h.join("r").to_str().unwrap(),
            ],
        ),
    );
    let mut login = Command::new(env!("CARGO_BIN_EXE_pqreg"));
    login
        .args(["-o", "json", "login", &host, "-u", "me", "--password-stdin"])
        .env("HOME", h)
        .env("DOCKER_CONFIG", h.join("docker"))
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    {
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    check_doc("login", &serde_json::from_slice(&o.stdout).unwrap());
    let env = json(h, &["env"]);
    check_doc("env", &env);
    assert_eq!(
        env["credentials"],
        serde_json::json!({ host.as_str(): "auths" })
    );
    check_doc("logout", &json(h, &["logout", &host]));
}
