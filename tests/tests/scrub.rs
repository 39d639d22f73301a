//! `pqreg-registry scrub` (spec/api.md "Scrub"): a blob file whose bytes no longer hash to
//! its name is found, moved to quarantine, and reported with the repositories, manifests and
//! tags that use it; the exit code says so; afterwards the registry answers BLOB_UNKNOWN for
//! it (never wrong bytes) until the genuine bytes are pushed again.

use std::process::Command;

use pqreg_tests::Registry;
use pqreg_tests::oci::*;
use pqreg_tests::server::registry_bin;
use serde_json::Value;

fn scrub(reg: &Registry, args: &[&str]) -> (i32, String) {
    let data = reg.data_dir();
    let out = Command::new(registry_bin())
        .arg("scrub")
        .arg("--data-dir")
        .arg(&data)
        .args(args)
        .output()
        .expect("run pqreg-registry scrub");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn scrub_quarantines_a_corrupted_blob_and_names_its_users() {
    let mut reg = Registry::start();
    let c = reg.client();
    let (manifest, md) = push_image(&c, "scrub/a", "v1", 31, 2);
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap().to_owned();
    let genuine = c.get(&blob_path("scrub/a", &layer)).body;
    // Another repository holds the same blob (linked, no manifest).
    push_blob(&c, "scrub/b", &genuine);
    reg.kill9();

    let (code, out) = scrub(&reg, &[]);
    assert_eq!(code, 0, "a clean store scrubs clean: {out}");
    assert!(out.contains(" 0 corrupt"), "{out}");

    let hex = layer.strip_prefix("sha256:").unwrap();
    let file = reg
        .data_dir()
        .join("blobs/sha256")
        .join(&hex[..2])
        .join(hex);
    let mut bad = genuine.clone();
    bad[0] ^= 1;
    std::fs::write(&file, &bad).unwrap();

    let (code, out) = scrub(&reg, &["-o", "json"]);
    assert_eq!(code, 3, "corrupt blobs exit 3: {out}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let corrupt = r["corrupt"].as_array().unwrap();
    assert_eq!(corrupt.len(), 1, "{r}");
    let cb = &corrupt[0];
    assert_eq!(cb["digest"], layer.as_str());
    assert_eq!(cb["actual"], sha256(&bad).as_str());
    let moved = cb["quarantined_to"].as_str().unwrap();
    assert_eq!(std::fs::read(moved).unwrap(), bad);
    assert!(!file.exists());
    let users = cb["used_by"].as_array().unwrap();
    let a = users
        .iter()
        .find(|u| u["repository"] == "scrub/a")
        .expect("scrub/a reported");
    assert_eq!(a["linked"], true);
    assert_eq!(a["manifests"][0]["digest"], md.as_str());
    assert_eq!(a["manifests"][0]["tags"][0], "v1");
    let b = users
        .iter()
        .find(|u| u["repository"] == "scrub/b")
        .expect("scrub/b reported");
    assert_eq!(b["linked"], true);
    assert!(b["manifests"].as_array().unwrap().is_empty());

    // Quarantined: scrub is clean again, and the registry no longer serves it.
    let (code, out) = scrub(&reg, &[]);
    assert_eq!(code, 0, "{out}");
    reg.restart();
    let c = reg.client();
    assert_error(
        &c.get(&blob_path("scrub/a", &layer)),
        404,
        Some("BLOB_UNKNOWN"),
    );
    // The genuine bytes pushed again restore it for every repository.
    push_blob(&c, "scrub/b", &genuine);
    assert_bytes(
        &c.get(&blob_path("scrub/a", &layer)).body,
        &genuine,
        "restored blob",
    );
}

#[test]
fn scrub_text_report_and_keep() {
    let reg = Registry::start();
    let c = reg.client();
    let d = push_blob(&c, "scrub/t", b"some bytes to rot");
    reg.kill9();
    let hex = d.strip_prefix("sha256:").unwrap();
    let file = reg
        .data_dir()
        .join("blobs/sha256")
        .join(&hex[..2])
        .join(hex);
    std::fs::write(&file, b"rotten").unwrap();
    let (code, out) = scrub(&reg, &["--keep"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains(&format!("CORRUPT {d}")), "{out}");
    assert!(out.contains("left in place"), "{out}");
    assert!(out.contains("repository scrub/t (linked)"), "{out}");
    assert!(file.exists(), "--keep leaves the file");
}

#[test]
fn the_server_scrubs_online_and_stops_serving_the_bad_copy() {
    let reg = Registry::start_with_env(&[("PQREG_REGISTRY__GC__SCRUB_INTERVAL_SECS", "1")]);
    let c = reg.client();
    let genuine = b"bytes that will rot while the server runs".to_vec();
    let d = push_blob(&c, "scrub/online", &genuine);
    let hex = d.strip_prefix("sha256:").unwrap().to_owned();
    let file = reg
        .data_dir()
        .join("blobs/sha256")
        .join(&hex[..2])
        .join(&hex);
    let rotten = vec![b'x'; genuine.len()];
    std::fs::write(&file, &rotten).unwrap();

    // Bounded wait for a scrub pass: the bad copy stops being served.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = c.get(&blob_path("scrub/online", &d));
        if r.status == 404 {
            assert_error(&r, 404, Some("BLOB_UNKNOWN"));
            break;
        }
        assert_eq!(r.status, 200);
        assert!(
            std::time::Instant::now() < deadline,
            "no online scrub quarantined the bad copy\n{}",
            reg.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let q = reg.data_dir().join("quarantine/sha256");
    let moved: Vec<_> = std::fs::read_dir(&q)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!(
        moved[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&hex)
    );
    assert_eq!(std::fs::read(&moved[0]).unwrap(), rotten);

    push_blob(&c, "scrub/other", &genuine);
    assert_bytes(
        &c.get(&blob_path("scrub/online", &d)).body,
        &genuine,
        "blob restored by a re-push",
    );
}
