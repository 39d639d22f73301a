//! A blob is the bytes that were hashed, whatever GC, a stalled client or an earlier bad copy
//! does (issue 15 §1; spec/api.md "Blob store integrity").
//!
//! Attack 1, reproduced on main before the fix: a monolithic upload (`POST ?digest=`, no
//! session row) stalls mid-body across a GC pass; GC swept its file as an orphan; at commit
//! the store reopened the path with `create`, sized it with zeros and stored that under the
//! digest, for every repository. Attack 2: a stored blob file that went bad was kept when the
//! genuine bytes were pushed again ("already exists").

use std::io::Write;
use std::time::{Duration, Instant};

use pqreg_tests::Registry;
use pqreg_tests::http::read_response;
use pqreg_tests::oci::*;

/// Polls `cond` with backoff until it holds; fails the test after `limit` with `what`.
fn wait_for(limit: Duration, what: &str, reg: &Registry, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    let mut backoff = Duration::from_millis(20);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "gave up waiting: {what}\n{}",
            reg.log()
        );
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(300));
    }
}

fn upload_files(reg: &Registry) -> usize {
    std::fs::read_dir(reg.data_dir().join("uploads")).map_or(0, |d| d.count())
}

fn blob_file(reg: &Registry, digest: &str) -> std::path::PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    reg.data_dir()
        .join("blobs/sha256")
        .join(&hex[..2])
        .join(hex)
}

#[test]
fn monolithic_upload_stalled_across_gc_never_becomes_a_zero_blob() {
    let reg = Registry::start_with_env(&[
        ("PQREG_REGISTRY__GC__INTERVAL_SECS", "2"),
        ("PQREG_REGISTRY__GC__GRACE_PERIOD_SECS", "3"),
    ]);
    let c = reg.client();
    let genuine = random_bytes(1501, 256 << 10);
    let d = sha256(&genuine);

    // The pusher sends half the body and goes silent.
    let path = format!("{}?digest={d}", uploads_path("poison/first"));
    let mut s = c
        .start(
            "POST",
            &path,
            &[("Content-Type", "application/octet-stream")],
            Some(genuine.len() as u64),
        )
        .unwrap();
    let half = genuine.len() / 2;
    s.write_all(&genuine[..half]).unwrap();
    s.flush().unwrap();
    wait_for(
        Duration::from_secs(30),
        "the upload's file to appear",
        &reg,
        || upload_files(&reg) == 1,
    );

    // A sentinel blob, pushed after the upload's file was last written and referenced by
    // nothing: once GC has removed it, a GC pass ran whose grace cutoff lies after that
    // write, i.e. a pass in which the upload's file was old enough to be swept.
    let sentinel = push_blob(&c, "poison/sentinel", &random_bytes(1502, 999));
    wait_for(
        Duration::from_secs(60),
        "a GC pass to remove the unreferenced sentinel blob",
        &reg,
        || c.head(&blob_path("poison/sentinel", &sentinel)).status == 404,
    );

    // The pusher wakes up and sends the rest.
    s.write_all(&genuine[half..]).unwrap();
    s.flush().unwrap();
    let r = read_response(s, false).unwrap();
    assert_eq!(
        r.status,
        201,
        "an upload in flight must survive GC: {}",
        r.text()
    );
    let got = c.get(&blob_path("poison/first", &d));
    assert_eq!(got.status, 200);
    assert_bytes(&got.body, &genuine, "blob served to the first pusher");

    // Another repository pushes the genuine bytes and reads them back; so does the first.
    push_blob(&c, "poison/second", &genuine);
    for repo in ["poison/second", "poison/first"] {
        let got = c.get(&blob_path(repo, &d));
        assert_eq!(got.status, 200, "GET from {repo}");
        assert_bytes(&got.body, &genuine, &format!("blob served to {repo}"));
    }
}

#[test]
fn a_bad_stored_copy_is_replaced_when_the_genuine_bytes_are_pushed_again() {
    let reg = Registry::start();
    let c = reg.client();
    let genuine = random_bytes(1511, 64 << 10);
    let d = push_blob(&c, "heal/a", &genuine);

    // The stored copy goes bad (what the zero-blob attack, a disk fault or a tampering
    // operator leave behind): same length, other bytes.
    std::fs::write(blob_file(&reg, &d), vec![0u8; genuine.len()]).unwrap();
    assert_ne!(c.get(&blob_path("heal/a", &d)).body, genuine);

    // A second repository pushes the genuine content, monolithically and by session.
    let r = c.must(
        "POST",
        &format!("{}?digest={d}", uploads_path("heal/b")),
        &[("Content-Type", "application/octet-stream")],
        &genuine,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    for repo in ["heal/a", "heal/b"] {
        let got = c.get(&blob_path(repo, &d));
        assert_eq!(got.status, 200);
        assert_bytes(&got.body, &genuine, &format!("blob served to {repo}"));
    }

    std::fs::write(blob_file(&reg, &d), b"short").unwrap();
    push_blob(&c, "heal/c", &genuine);
    let got = c.get(&blob_path("heal/a", &d));
    assert_bytes(&got.body, &genuine, "blob after a session re-push");
}
