//! `pqreg push` and `pqreg pull` (the binary) against the real `pqreg-registry` binary on
//! 127.0.0.1: byte-for-byte round trip, an untrusted signer exits 12 and writes nothing,
//! and a re-push with `--identity` uploads no chunk blob.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use crate::cli_common::{files, ok, policy, pqreg};
use crate::registry_common::start;

#[test]
fn push_pull_roundtrip_untrusted_and_dedup() {
    let reg = start();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let p = |s: &str| h.join(s).to_str().unwrap().to_owned();
    ok(&pqreg(h, &["keygen", "--sign", "--out", &p("signer")]));
    ok(&pqreg(h, &["keygen", "--sign", "--out", &p("other")]));
    ok(&pqreg(h, &["keygen", "--recipient", "--out", &p("rcpt")]));
    policy(
        &h.join("trust.toml"),
        &h.join("signer.pub"),
        &format!("{}/models/*", reg.addr),
    );
    policy(
        &h.join("untrust.toml"),
        &h.join("other.pub"),
        &format!("{}/models/*", reg.addr),
    );
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/models/tiny");
    let src_s = src.to_str().unwrap();
    let r = format!("{}/models/tiny:v1", reg.addr);

    let out = ok(&pqreg(
        h,
        &[
            "-o",
            "json",
            "push",
            src_s,
            &r,
            "--recipient",
            &p("rcpt.pub"),
            "--sign-key",
            &p("signer.key"),
        ],
    ));
    let first: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(first["uploaded_bytes"].as_u64().unwrap() > 0);
    let digest = first["digest"].as_str().unwrap().to_owned();
    assert_eq!(
        first["reference"],
        format!("{}/models/tiny@{digest}", reg.addr)
    );

    let pulled = ok(&pqreg(
        h,
        &[
            "pull",
            &r,
            &p("out"),
            "--identity",
            &p("rcpt.key"),
            "--policy",
            &p("trust.toml"),
        ],
    ));
    assert_eq!(pulled.trim(), format!("{}/models/tiny@{digest}", reg.addr));
    assert_eq!(files(&h.join("out")), files(&src));

    // A valid signature by a key the policy does not list: exit 12, nothing written.
    let o = pqreg(
        h,
        &[
            "pull",
            &r,
            &p("out2"),
            "--identity",
            &p("rcpt.key"),
            "--policy",
            &p("untrust.toml"),
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(12),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!h.join("out2").exists());
    let leftovers: Vec<_> = std::fs::read_dir(h)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("partial")
        })
        .collect();
    assert!(leftovers.is_empty());

    // An I/O error names its cause once: the output's parent is a file, so staging fails.
    std::fs::write(h.join("afile"), b"x").unwrap();
    let o = pqreg(
        h,
        &[
            "pull",
            &r,
            &format!("{}/out", p("afile")),
            "--identity",
            &p("rcpt.key"),
            "--policy",
            &p("trust.toml"),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("(os error").count(), 1, "{err}");

    // verify: every check, the written files re-hashed, nothing written.
    let verified: serde_json::Value = serde_json::from_str(&ok(&pqreg(
        h,
        &[
            "-o",
            "json",
            "verify",
            &format!("{}/models/tiny@{digest}", reg.addr),
            "--identity",
            &p("rcpt.key"),
            "--policy",
            &p("trust.toml"),
        ],
    )))
    .unwrap();
    assert_eq!(verified["plaintext_hashed"], true, "{verified}");
    assert_eq!(verified["written_to"], serde_json::Value::Null);

    // Re-push of the unchanged model from the previous version: no chunk blob is uploaded (only
    // the new config/index/bundle differ at most, and the chunk layers are all reused).
    let out = ok(&pqreg(
        h,
        &[
            "-o",
            "json",
            "push",
            src_s,
            &r,
            "--recipient",
            &p("rcpt.pub"),
            "--sign-key",
            &p("signer.key"),
            "--identity",
            &p("rcpt.key"),
        ],
    ));
    let second: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(second["new_chunk_blobs"], 0, "{second}");
    assert!(second["reused_chunks"].as_u64().unwrap() > 0, "{second}");
    assert!(
        second["uploaded_bytes"].as_u64().unwrap() < first["uploaded_bytes"].as_u64().unwrap(),
        "{first} {second}"
    );
    // The new version pulls too; by default without re-hashing the written files, with
    // --verify-plaintext re-hashing them.
    for (dir, extra, hashed) in [
        ("out3", None, false),
        ("out4", Some("--verify-plaintext"), true),
    ] {
        let mut args = vec![
            "-o",
            "json",
            "pull",
            &r,
            &p(dir),
            "--identity",
            &p("rcpt.key"),
            "--policy",
            &p("trust.toml"),
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        args.extend(extra.map(str::to_owned));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let pulled: serde_json::Value = serde_json::from_str(&ok(&pqreg(h, &argv))).unwrap();
        assert_eq!(pulled["plaintext_hashed"], hashed, "{pulled}");
        assert_eq!(files(&h.join(dir)), files(&src));
    }
}
