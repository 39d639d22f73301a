//! skopeo (Debian package) copies an OCI image layout into the registry and back: manifest
//! and blob digests preserved, tags listed, `inspect --raw` byte-identical, registry to
//! registry copy, and delete.

use std::path::Path;
use std::process::Command;

use pqreg_tests::Registry;
use pqreg_tests::layout::{layout_manifest_digest, write_image_layout};
use pqreg_tests::oci::{assert_bytes, get_manifest};
use pqreg_tests::tools::tool;

/// Runs skopeo with a permissive signature policy of our own (no dependency on
/// /etc/containers/policy.json) and no credentials; returns stdout, failing on error.
fn skopeo(policy: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .arg("--policy")
        .arg(policy)
        .args(args)
        .env("REGISTRY_AUTH_FILE", policy.with_file_name("auth.json"))
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn skopeo_copy_roundtrip_preserves_digests() {
    if tool("skopeo", &["--version"]).is_none() {
        return;
    }
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("policy.json");
    std::fs::write(
        &policy,
        br#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .unwrap();
    std::fs::write(tmp.path().join("auth.json"), b"{\"auths\":{}}").unwrap();
    let src = tmp.path().join("src");
    let layout = write_image_layout(&src, "v1", 7);
    let host = reg.host();
    let dest = format!("docker://{host}/skopeo/model:v1");

    skopeo(
        &policy,
        &[
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", src.display()),
            &dest,
        ],
    );

    // The registry holds exactly our manifest and blobs.
    let c = reg.client();
    let r = get_manifest(&c, "skopeo/model", "v1");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_bytes(&r.body, &layout.manifest, "manifest bytes preserved");
    for d in &layout.blobs {
        let r = c.head(&format!("/v2/skopeo/model/blobs/{d}"));
        assert_eq!(r.status, 200, "blob {d} pushed");
    }

    // inspect --raw is byte-identical; inspect reports the digest.
    let raw = skopeo(&policy, &["inspect", "--raw", "--tls-verify=false", &dest]);
    assert_eq!(raw, layout.manifest);
    let info: serde_json::Value =
        serde_json::from_slice(&skopeo(&policy, &["inspect", "--tls-verify=false", &dest]))
            .unwrap();
    assert_eq!(info["Digest"], layout.manifest_digest.as_str());

    // Registry to registry (blobs already there in another repo: mount or re-push).
    skopeo(
        &policy,
        &[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &dest,
            &format!("docker://{host}/skopeo/model:v2"),
        ],
    );
    skopeo(
        &policy,
        &[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &dest,
            &format!("docker://{host}/skopeo/mirror:v1"),
        ],
    );
    let tags: serde_json::Value = serde_json::from_slice(&skopeo(
        &policy,
        &[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{host}/skopeo/model"),
        ],
    ))
    .unwrap();
    assert_eq!(tags["Tags"], serde_json::json!(["v1", "v2"]));

    // Back to another layout: same manifest digest, same blob bytes.
    let back = tmp.path().join("back");
    skopeo(
        &policy,
        &[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            &format!("docker://{host}/skopeo/mirror:v1"),
            &format!("oci:{}:v1", back.display()),
        ],
    );
    assert_eq!(
        layout_manifest_digest(&back, "v1").as_deref(),
        Some(layout.manifest_digest.as_str())
    );
    for d in layout.blobs.iter().chain([&layout.manifest_digest]) {
        let hex = d.trim_start_matches("sha256:");
        let a = std::fs::read(src.join("blobs/sha256").join(hex)).unwrap();
        let b = std::fs::read(back.join("blobs/sha256").join(hex))
            .unwrap_or_else(|e| panic!("blob {d} missing from the copied layout: {e}"));
        assert_eq!(a, b, "blob {d} identical");
    }

    // Delete by digest: the tags go with it.
    skopeo(
        &policy,
        &[
            "delete",
            "--tls-verify=false",
            &format!("docker://{host}/skopeo/model@{}", layout.manifest_digest),
        ],
    );
    assert_eq!(get_manifest(&c, "skopeo/model", "v1").status, 404);
}
