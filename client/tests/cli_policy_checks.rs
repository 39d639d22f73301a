//! Issue 12 point 6, the client's side (spec/signing.md §6, §7.3; README "production"):
//! a malformed default `policy.toml` stops push, recipients and copy with a clear error
//! instead of being ignored, and a pull that verifies a checkpoint no witness cosigned
//! warns on stderr. Real `pqreg-registry` on 127.0.0.1, real `pqreg` binary.
#![allow(clippy::unwrap_used)]

use crate::cli_common;
use crate::cli_common::{pqreg, tiny};
use crate::model_common::{Keys, exits, policy, show};
use crate::registry_common::start;

#[test]
fn malformed_default_policy_stops_push_recipients_and_copy() {
    let reg = start();
    let k = Keys::new();
    let r = format!("{}/models/tiny:v1", reg.addr);
    let push = |k: &Keys| {
        pqreg(
            k.h(),
            &[
                "push",
                tiny().to_str().unwrap(),
                &r,
                "--recipient",
                &k.p("a.pub"),
                "--sign-key",
                &k.p("signer.key"),
            ],
        )
    };
    // Without a default policy, push works (none is needed).
    let o = push(&k);
    assert!(o.status.success(), "{}", show(&o));
    // A default policy that does not parse: every command that would use it stops.
    let dir = k.h().join("config").join("pqreg");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("policy.toml"), "version = [\n").unwrap();
    let policy_file = dir.join("policy.toml").display().to_string();
    let e = exits(&push(&k), 1);
    assert!(e.contains(&policy_file), "{e}");
    let e = exits(&k.recipients("add", &r, "b", "a"), 1);
    assert!(e.contains("trust policy"), "{e}");
    let o = pqreg(
        k.h(),
        &[
            "copy",
            &r,
            &format!("{}/copies/tiny", reg.addr),
            "--signer-pub",
            &k.p("signer.pub"),
        ],
    );
    let e = exits(&o, 1);
    assert!(e.contains("trust policy"), "{e}");
    // Nothing moved: the tag still names the first push, the copy does not exist.
    let o = pqreg(k.h(), &["inspect", &format!("{}/copies/tiny:v1", reg.addr)]);
    assert!(!o.status.success());
}

#[test]
fn a_checkpoint_without_witnesses_is_warned_about() {
    let reg = start();
    let k = Keys::new();
    policy(
        &k.h().join("trust.toml"),
        &k.h().join("signer.pub"),
        &[&reg],
    );
    let r = format!("{}/models/tiny:v1", reg.addr);
    k.push(&reg, "models/tiny:v1", "a", "signer");
    let o = k.pull(&r, "a", "out");
    assert!(o.status.success(), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("verified with no witness cosignature"),
        "{err}"
    );
}

/// Issue 12 point 6 over HTTP: a model whose only signature the policy can verify is a
/// classical one (ECDSA P-256, `--classic-sign-key`; its ML-DSA bundle is by a key the
/// policy does not list) is refused when the policy lists the ECDSA key without a
/// `min_algorithm` opt-out (exit 12, naming the minimum), and pulled when the rule opts
/// out explicitly. The two policies differ in that one line only.
#[test]
fn a_classical_signature_needs_an_explicit_min_algorithm_opt_out() {
    let reg = start();
    let k = Keys::new();
    let o = pqreg(
        k.h(),
        &[
            "keygen",
            "--sign",
            "--alg",
            "ecdsa-p256",
            "--out",
            &k.p("classic"),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    let r = format!("{}/models/tiny:v1", reg.addr);
    let o = pqreg(
        k.h(),
        &[
            "push",
            tiny().to_str().unwrap(),
            &r,
            "--recipient",
            &k.p("a.pub"),
            "--sign-key",
            &k.p("other.key"),
            "--classic-sign-key",
            &k.p("classic.key"),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    let pem = std::fs::read_to_string(k.h().join("classic.pub")).unwrap();
    let write = |min_algorithm: &str| {
        let text = format!(
            "version = 1\nrequire_log = false\n\n[[keys]]\nname = \"legacy\"\nalg = \"ecdsa-p256-sha256\"\npublic_key = \"\"\"\n{pem}\"\"\"\n\n[[rules]]\nrepositories = [\"{}/**\"]\nsigners = [\"legacy\"]\n{min_algorithm}",
            reg.addr
        );
        std::fs::write(k.h().join("trust.toml"), text).unwrap();
    };
    write("");
    let e = exits(&k.pull(&r, "a", "refused"), 12);
    assert!(
        e.contains("ecdsa-p256-sha256") && e.contains("weaker than the required ml-dsa-44"),
        "the refusal names the algorithm and the minimum: {e}"
    );
    assert!(!k.h().join("refused").exists());
    write("min_algorithm = \"ecdsa-p256-sha256\"\n");
    let o = k.pull(&r, "a", "accepted");
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        cli_common::files(&k.h().join("accepted")),
        cli_common::files(&tiny())
    );
}
