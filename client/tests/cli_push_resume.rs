//! Issue 16, "an interrupted push starts over": `push --identity` keeps a journal of the
//! chunks it sealed and uploaded, sealed to that identity (client/src/resume.rs,
//! spec/artifact.md §10.1), and the next push of the same reference takes them again.
//! With the real `pqreg` binary and a real registry behind a TCP proxy the test controls:
//! the proxy cuts the log submission, which comes after every chunk was uploaded, so the
//! first push fails at a known point.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;

use crate::cli_common::{Home, ok, policy};
use crate::cli_pull_leaks::{Proxy, Rule, model};
use crate::registry_common;

#[test]
fn an_interrupted_push_resumes_with_the_chunks_it_uploaded() {
    let reg = registry_common::start();
    let proxy = Proxy::start(&reg.addr);
    let h = Home::new();
    policy(
        &h.path().join("trust.toml"),
        &h.path().join("signer.pub"),
        &format!("{}/models/*", proxy.addr),
    );
    let src = model(h.path());
    let reference = format!("{}/models/m:v1", proxy.addr);
    let id = h.p("rcpt.key");

    // Every chunk is uploaded, then the log submission is cut: the push fails.
    proxy.set(Rule::Cut {
        digest: "/log/v1/entries".into(),
        after: 0,
        first: true,
    });
    let o = h.push(&src, &reference, "signer.key", &["--identity", &id]);
    assert!(
        !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dir = h.path().join("state/pqreg/push");
    let journals: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(journals.len(), 1, "{journals:?}");
    let journal = &journals[0];
    let meta = std::fs::metadata(journal).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // The chunk entries (with their keys) are sealed: only the envelope and the sealed
    // list are in the file.
    let text = std::fs::read_to_string(journal).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["chunks", "envelope", "reference", "version"]);
    assert_eq!(v["reference"], reference.as_str());
    assert!(
        !text.contains("\"layer\"") && !text.contains("\"key\""),
        "{text}"
    );

    // The same push again: no chunk is sealed or uploaded again.
    proxy.set(Rule::Pass);
    let o = h.push(&src, &reference, "signer.key", &["--identity", &id]);
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("resuming an interrupted push"), "{err}");
    let chunks = v["chunks"].as_u64().unwrap();
    assert!(chunks > 1, "{v}");
    assert_eq!(v["resumed_chunks"].as_u64(), Some(chunks), "{v}");
    assert_eq!(v["new_chunk_blobs"].as_u64(), Some(0), "{v}");
    assert!(!journal.exists(), "the journal outlived the push");

    // What was published pulls and verifies.
    let o = h.pull(&reference, "out", "rcpt.key", &[]);
    ok(&o);
    assert_eq!(
        std::fs::read(h.path().join("out/weights.bin")).unwrap(),
        std::fs::read(src.join("weights.bin")).unwrap()
    );
}

/// A journal the identity does not open (another key, or damaged) is not used: the push
/// says so, seals everything anew, and succeeds.
#[test]
fn a_journal_that_does_not_open_is_not_used() {
    let reg = registry_common::start();
    let h = Home::new();
    h.run_ok(&["keygen", "--recipient", "--out", &h.p("mine")]);
    let src = model(h.path());
    let reference = format!("{}/models/m:v1", reg.addr);
    let name = format!("{}/models/m:v1", reg.addr);
    let dir = h.path().join("state/pqreg/push");
    std::fs::create_dir_all(&dir).unwrap();
    let hex = pqreg_spec::Digest::sha256(name.as_bytes()).hex();
    std::fs::write(
        dir.join(&hex),
        br#"{"version":1,"reference":"x","envelope":{},"chunks":""}"#,
    )
    .unwrap();
    let o = h.push(
        &src,
        &reference,
        "signer.key",
        &["--identity", &h.p("mine.key")],
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is not used"), "{err}");
    assert_eq!(v["resumed_chunks"].as_u64(), Some(0), "{v}");
    assert!(!dir.join(&hex).exists());
}
