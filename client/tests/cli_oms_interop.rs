//! OpenSSF model_signing interop over a registry: a model pushed with
//! `--classic-sign-key` and pulled with `--oms-signature FILE` verifies with
//! `model_signing verify key DIR --signature FILE --public_key P256.pub` (the pinned
//! model-signing of `.ci/setup`); a changed file makes model_signing fail. A model pushed
//! without a classical key: `--oms-signature` exits 11 and writes nothing.
//! Skipped without model_signing (fails under CI=true).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use crate::cli_common;
use crate::cli_common::{Home, exits, files, ok, policy, tiny};
use crate::registry_common;

fn model_signing_verify(bin: &Path, dir: &str, sig: &str, key: &str) -> bool {
    let o = Command::new(bin)
        .args([
            "verify",
            "key",
            dir,
            "--signature",
            sig,
            "--public_key",
            key,
        ])
        .output()
        .unwrap();
    eprintln!(
        "model_signing verify key {dir}: {}\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o.status.success()
}

#[test]
fn pulled_model_verifies_with_model_signing() {
    let Some(ms) = cli_common::model_signing() else {
        return;
    };
    let reg = registry_common::start();
    let h = Home::new();
    for name in ["classic", "stranger"] {
        ok(&h.run(&[
            "keygen",
            "--sign",
            "--alg",
            "ecdsa-p256",
            "--out",
            &h.p(name),
        ]));
    }
    policy(
        &h.path().join("trust.toml"),
        &h.path().join("signer.pub"),
        &format!("{}/models/*", reg.addr),
    );
    let src = tiny();
    let signed = format!("{}/models/oms:v1", reg.addr);
    let classic = ["--classic-sign-key", &h.p("classic.key")];
    ok(&h.push(&src, &signed, "signer.key", &classic));
    let sig = h.p("model.sig");
    let out = ok(&h.pull(&signed, "out", "rcpt.key", &["--oms-signature", &sig]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["oms_signature"], sig);
    assert_eq!(files(&h.path().join("out")), files(&src));
    let verify = |key: &str| model_signing_verify(&ms, &h.p("out"), &sig, &h.p(key));
    assert!(verify("classic.pub"));
    // Another key does not verify it.
    assert!(!verify("stranger.pub"));
    // One byte of one pulled file changed: model_signing refuses the model.
    let (name, mut bytes) = files(&h.path().join("out")).into_iter().next().unwrap();
    bytes[0] ^= 1;
    std::fs::write(h.path().join("out").join(&name), bytes).unwrap();
    assert!(!verify("classic.pub"));

    // Without --classic-sign-key there is no OMS bundle: exit 11, nothing written.
    let unsigned = format!("{}/models/oms:pq-only", reg.addr);
    ok(&h.push(&src, &unsigned, "signer.key", &[]));
    let sig2 = h.p("model2.sig");
    let o = h.pull(&unsigned, "out2", "rcpt.key", &["--oms-signature", &sig2]);
    exits(
        &o,
        11,
        "pull --oms-signature of a model without a classical bundle",
    );
    assert!(!h.path().join("out2").exists());
    assert!(!Path::new(&sig2).exists());
}
