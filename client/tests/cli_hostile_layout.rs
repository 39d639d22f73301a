//! A hostile OCI layout against `pqreg pull --offline` (attack report F6): whoever
//! carries the layout to the air-gapped node may make the pull fail, not exhaust its
//! memory or hang it. Each run of the real `pqreg` binary has a 1 GiB address-space limit
//! and a deadline, as in `cli_hostile_answers.rs`.
//!
//! - `index.json` a symlink to `/dev/zero`: refused as a character device, exit 1.
//!   Before, `fs::read` read it without end (RSS +1 GB/s in the attack).
//! - `index.json` a FIFO nobody writes: refused at once. Before, the open blocked forever.
//! - `index.json` a 5 MiB regular file: refused at the 4 MiB limit.
//! - In a real layout (written by `pqreg log proof --layout`), the model's manifest blob
//!   a symlink to `/dev/zero`: refused. Before, its size (0) passed the size check and
//!   the read never ended.
//!
//! `open_regular`/`read_regular` have unit tests of their own (client/src/unpack/source.rs).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Output;

use crate::cli_common::{Home, policy};
use crate::cli_hostile_answers::run_bounded;
use crate::log_common::*;
use crate::registry_common::start;

/// `pqreg pull --offline` of `reference` from `layout` into a fresh directory, trusting
/// `trust`; the proof file is `proof`.
fn pull_offline(h: &Home, reference: &str, layout: &Path, proof: &Path, trust: &Path) -> Output {
    let out = h.path().join("out");
    run_bounded(
        h,
        &[
            "pull",
            reference,
            out.to_str().unwrap(),
            "--offline",
            "--layout",
            layout.to_str().unwrap(),
            "--proof",
            proof.to_str().unwrap(),
            "--identity",
            &h.p("rcpt.key"),
            "--policy",
            trust.to_str().unwrap(),
        ],
    )
}

/// Asserts `o` failed with exit 1 naming `needle`, and wrote nothing.
fn refused(h: &Home, o: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr {stderr}");
    assert!(stderr.contains(needle), "no {needle:?} in: {stderr}");
    assert!(!h.path().join("out").exists(), "the pull wrote its output");
}

/// A layout with a valid `oci-layout` and `index.json` as `make_index` leaves it.
fn layout_with_index(h: &Home, name: &str, make_index: impl FnOnce(&Path)) -> std::path::PathBuf {
    let dir = h.path().join(name);
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    make_index(&dir.join("index.json"));
    dir
}

#[test]
fn an_index_json_that_is_no_small_regular_file_is_refused() {
    let h = Home::new();
    let trust = h.path().join("trust.toml");
    policy(&trust, &h.path().join("signer.pub"), "*/models/*");
    // Not read: the layout is refused first.
    let proof = h.path().join("none.tlog-proof");
    let r = "127.0.0.1:9/models/m:v1";

    let zero = layout_with_index(&h, "zero", |p| {
        std::os::unix::fs::symlink("/dev/zero", p).unwrap();
    });
    let o = pull_offline(&h, r, &zero, &proof, &trust);
    refused(
        &h,
        &o,
        "index.json: is a character device (after following symlinks)",
    );

    let fifo = layout_with_index(&h, "fifo", |p| {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            p,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            0,
        )
        .unwrap();
    });
    let o = pull_offline(&h, r, &fifo, &proof, &trust);
    refused(&h, &o, "index.json: is a FIFO");

    let big = layout_with_index(&h, "big", |p| {
        std::fs::write(p, vec![b' '; 5 << 20]).unwrap();
    });
    let o = pull_offline(&h, r, &big, &proof, &trust);
    refused(&h, &o, "index.json: exceeds the limit of 4194304 bytes");
}

#[test]
fn a_manifest_blob_linked_to_dev_zero_is_refused() {
    // A real layout and proof, as an air-gapped node gets them.
    let reg = start();
    let h = Home::new();
    h.write_policy(&reg, None);
    let d = h.push_digest(&tiny(), &format!("{}/models/m:v1", reg.addr));
    let r = format!("{}/models/m@{d}", reg.addr);
    let proof = h.path().join("m.tlog-proof");
    let layout = h.path().join("layout");
    h.run_ok(&[
        "log",
        "proof",
        &r,
        "--out",
        proof.to_str().unwrap(),
        "--layout",
        layout.to_str().unwrap(),
    ]);
    drop(reg);
    let trust = h.path().join("config/pqreg/policy.toml");
    let manifest = layout
        .join("blobs/sha256")
        .join(d.trim_start_matches("sha256:"));
    std::fs::remove_file(&manifest).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &manifest).unwrap();
    let o = pull_offline(&h, &r, &layout, &proof, &trust);
    refused(&h, &o, "is a character device");
}
