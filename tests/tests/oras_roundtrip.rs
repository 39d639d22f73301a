//! oras-py (PyPI `oras`) pushes an artifact with a custom `artifactType`, pulls it back,
//! pushes a referrer with `subject`, and lists it through the referrers API
//! (`tests/py/oras_roundtrip.py`); this test then checks the registry's side on its own.

use std::process::Command;

use pqreg_tests::Registry;
use pqreg_tests::oci::{MT_INDEX, blob_path, manifest_path, sha256};
use pqreg_tests::tools::{oras_python, workspace_root};

#[test]
fn oras_py_push_pull_and_referrer() {
    let Some(py) = oras_python() else { return };
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let script = workspace_root().join("tests/py/oras_roundtrip.py");
    let out = Command::new(&py)
        .arg(&script)
        .args([
            reg.host().as_str(),
            "oras/model",
            work.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oras_roundtrip.py failed ({}):\n{}\n{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        reg.log()
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = reg.client();
    let artifact = result["artifact"].as_str().unwrap();
    let referrer = result["referrer"].as_str().unwrap();

    // The artifact, by tag and digest, with its artifactType; its blobs are there.
    let r = c.get(&manifest_path("oras/model", "v1"));
    assert_eq!(r.status, 200);
    assert_eq!(sha256(&r.body), artifact);
    assert_eq!(r.json()["artifactType"], result["artifact_type"]);
    for l in result["layers"].as_array().unwrap() {
        let d = l.as_str().unwrap();
        let b = c.get(&blob_path("oras/model", d));
        assert_eq!(b.status, 200);
        assert_eq!(sha256(&b.body), d);
    }

    // The referrer through the referrers API, unfiltered.
    let r = c.get(&format!("/v2/oras/model/referrers/{artifact}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some(MT_INDEX));
    let list = r.json()["manifests"].as_array().cloned().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["digest"], referrer);
    assert_eq!(list[0]["artifactType"], result["referrer_type"]);
    assert_eq!(result["filters_applied"], "artifactType");
}
