//! Interop: `skopeo copy` of a DirSink layout to another layout preserves the model
//! (manifest digest and blobs), and the copy unpacks once the referrer is carried over
//! (skopeo copies the tagged manifest, not its referrers). Skipped without skopeo (fails
//! under CI=true, as every test that needs a tool does).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use crate::cli_common;

use std::process::Command;

use crate::pack_common::*;

#[test]
fn skopeo_copy_preserves_the_model() {
    let Some(skopeo) = cli_common::tool("skopeo", &["--version"]) else {
        return;
    };
    let keys = Keys::new();
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let packed = pack(&tiny(), &a, &keys, true);
    let st = Command::new(skopeo)
        .args(["copy", "--quiet", "--preserve-digests"])
        .arg(format!("oci:{}:v1", a.display()))
        .arg(format!("oci:{}:v1", b.display()))
        .status()
        .unwrap();
    assert!(st.success());
    let src = pqreg::unpack::DirSource::open(&b).unwrap();
    assert_eq!(src.resolve("v1"), Some(packed.manifest_digest));
    // Carry the referrer over: its manifest, the bundle blob, an index.json entry.
    let blob =
        |root: &std::path::Path, d: &pqreg_spec::Digest| root.join("blobs/sha256").join(d.hex());
    let r = &packed.bundle;
    let bundle_digest = pqreg_spec::Digest::sha256(&r.bundle_json);
    std::fs::copy(blob(&a, &r.referrer_digest), blob(&b, &r.referrer_digest)).unwrap();
    std::fs::copy(blob(&a, &bundle_digest), blob(&b, &bundle_digest)).unwrap();
    let p = b.join("index.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": r.referrer_digest.to_string(),
            "size": r.referrer.len(),
        }));
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let out = tmp.path().join("out");
    unpack(
        &b,
        &packed.manifest_digest,
        &keys,
        &policy_for(&keys.signer),
        &out,
    )
    .unwrap();
    assert_eq!(tree(&out), tree(&tiny()));
}
