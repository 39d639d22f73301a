//! `pqreg copy` (the binary) against real `pqreg-registry` processes on 127.0.0.1: same
//! registry (blobs mounted; only the re-logged bundle uploaded), another registry
//! (uploaded), digests preserved, signatures re-logged in the destination's log for the
//! destination repository so `pqreg verify` passes there with the log; other referrers
//! and classical bundles copied unchanged, after the re-logged one; without the signer's
//! public key (refused before anything is copied), a missing source, a non-pqreg
//! manifest: clear errors. JSON checked against client/OUTPUT.md.
#![allow(clippy::unwrap_used)]

use pqreg::transfer::{RegistryClient, TransferOptions};
use pqreg_spec::Digest;
use serde_json::Value;

use crate::cli_common::{files, pqreg, tiny};
use crate::model_common::{Keys, add_mirror, check_doc, fails, json, policy, show, uploads};
use crate::registry_common::{Registry, start_with_origin};

/// Pushes a plain OCI image manifest (not a pqreg model) as `repo:v1`.
fn push_plain_image(reg: &Registry, repo: &str) {
    let c = RegistryClient::new(&reg.addr, None, TransferOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let path = dir.path().join("config");
    std::fs::write(&path, config).unwrap();
    let digest = Digest::sha256(config);
    c.push_blob_file(repo, &digest, config.len() as u64, &path)
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest.to_string(), "size": config.len()},
        "layers": []
    });
    c.put_manifest(
        repo,
        "v1",
        &serde_json::to_vec(&manifest).unwrap(),
        "application/vnd.oci.image.manifest.v1+json",
    )
    .unwrap();
}

/// Pushes an SBOM-like referrer of the model `subject` (`size` bytes) to `repo`; returns
/// its digest.
fn push_other_referrer(reg: &Registry, repo: &str, subject: &str, size: u64) -> String {
    let c = RegistryClient::new(&reg.addr, None, TransferOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut descs = Vec::new();
    for (name, bytes) in [("empty", &b"{}"[..]), ("sbom", &b"{\"sbom\":true}"[..])] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let d = Digest::sha256(bytes);
        c.push_blob_file(repo, &d, bytes.len() as u64, &path)
            .unwrap();
        descs.push((d.to_string(), bytes.len()));
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.sbom+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": descs[0].0, "size": descs[0].1},
        "layers": [{"mediaType": "application/vnd.example.sbom+json", "digest": descs[1].0, "size": descs[1].1}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": size}
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let d = Digest::sha256(&bytes);
    c.put_manifest(
        repo,
        &d.to_string(),
        &bytes,
        "application/vnd.oci.image.manifest.v1+json",
    )
    .unwrap();
    d.to_string()
}

#[test]
fn copy_within_and_across_registries() {
    let reg = start_with_origin("source.test/log");
    let reg2 = start_with_origin("destination.test/log");
    let k = Keys::new();
    let h = k.h();
    let pushed = k.push(&reg, "models/tiny:v1", "a", "signer");
    let digest = pushed["digest"].as_str().unwrap().to_owned();
    let src = format!("{}/models/tiny:v1", reg.addr);
    let size = json(h, &["inspect", &src])["size"].as_u64().unwrap();
    let sbom = push_other_referrer(&reg, "models/tiny", &digest, size);
    let i = json(h, &["inspect", &src]);
    assert_eq!(i["other_referrers"][0]["digest"], sbom.as_str());
    assert_eq!(
        i["other_referrers"][0]["media_type"],
        "application/vnd.example.sbom+json"
    );
    policy(&h.join("trust.toml"), &h.join("signer.pub"), &[&reg, &reg2]);
    // A copy keeps a statement bound to models/tiny (spec/signing.md §3.1, §7.1): it
    // verifies at a new location the policy declares a mirror of it.
    let signed_for = format!("{}/models/tiny", reg.addr);
    for at in [
        format!("{}/copies/tiny", reg.addr),
        format!("{}/mirror/tiny", reg2.addr),
    ] {
        add_mirror(&h.join("trust.toml"), &at, &signed_for);
    }
    let verify = |r: &str| {
        json(
            h,
            &[
                "verify",
                r,
                "--identity",
                &k.p("a.key"),
                "--policy",
                &k.p("trust.toml"),
            ],
        )
    };

    // The signature must be re-logged for the destination repository: without the
    // signer's public key, copy refuses before it copies anything.
    let copies = format!("{}/copies/tiny", reg.addr);
    let before = reg.requests("POST", "uploads", None);
    let e = fails(h, &["copy", &src, &copies], 1);
    assert!(e.contains("must be re-logged"), "{e}");
    assert_eq!(
        reg.requests("POST", "uploads", None),
        before,
        "no blob mounted or uploaded"
    );
    let e = fails(h, &["inspect", &format!("{copies}@{digest}")], 3);
    assert!(e.contains("not found"), "{e}");
    // Written as a reference is written: repository@digest, not repository:digest.
    assert!(e.contains(&format!("@{digest}")), "{e}");

    // Same registry: every model blob is mounted; only the re-logged bundle is uploaded.
    let before = uploads(&reg);
    let c1 = json(
        h,
        &["copy", &src, &copies, "--signer-pub", &k.p("signer.pub")],
    );
    check_doc("copy", &c1);
    assert_eq!(uploads(&reg) - before, 1, "{c1}");
    assert_eq!(c1["uploaded_blobs"], 1);
    assert_eq!(c1["digest"], digest.as_str());
    assert_eq!(c1["tag"], "v1");
    // config, index, chunks, the SBOM's two blobs and the empty referrer config.
    assert_eq!(
        c1["mounted_blobs"],
        pushed["chunks"].as_u64().unwrap() + 4,
        "{c1}"
    );
    // The signature first (re-logged: a new bundle digest), then the SBOM unchanged.
    let refs = c1["referrers"].as_array().unwrap();
    assert_eq!(refs.len(), 2);
    assert_eq!(refs[1]["source"], sbom.as_str());
    assert_eq!(refs[1]["destination"], sbom.as_str());
    assert_eq!(refs[1]["relogged"], false);
    assert_eq!(
        (refs[0]["logged"].clone(), refs[0]["relogged"].clone()),
        (Value::Bool(true), Value::Bool(true))
    );
    assert_ne!(refs[0]["source"], refs[0]["destination"]);
    // verify with a policy that requires the log: the copy's entry names its repository.
    let v = verify(&format!("{copies}:v1"));
    check_doc("pull", &v);
    assert_eq!(v["digest"], digest.as_str());
    assert_eq!(v["log_verified"], true);
    assert_eq!(v["written_to"], Value::Null);
    let i = json(h, &["inspect", &format!("{copies}:v1")]);
    assert_eq!(
        i["signatures"][0]["log_entries"][0]["repository"],
        "copies/tiny"
    );
    assert_eq!(i["signatures"][0]["referrer"], refs[0]["destination"]);

    // Another registry (keys from the policy): blobs uploaded, same digests, the
    // signature logged in that registry's log, verify and pull pass there.
    let before2 = uploads(&reg2);
    let dst = format!("{}/mirror/tiny:v1", reg2.addr);
    let c2 = json(h, &["copy", &src, &dst, "--policy", &k.p("trust.toml")]);
    check_doc("copy", &c2);
    assert_eq!(c2["tag"], "v1");
    assert_eq!(c2["digest"], digest.as_str());
    assert_eq!(c2["mounted_blobs"], 0);
    let n = c2["uploaded_blobs"].as_u64().unwrap();
    assert_eq!(uploads(&reg2) - before2, n);
    // config, index, chunks, the re-logged bundle, the empty referrer config, the SBOM.
    assert_eq!(n, pushed["chunks"].as_u64().unwrap() + 5);
    let i = json(h, &["inspect", &dst]);
    assert_eq!(i["other_referrers"][0]["digest"], sbom.as_str());
    assert_eq!(c2["referrers"][0]["relogged"], true);
    let i = json(h, &["inspect", &dst]);
    assert_eq!(i["digest"], digest.as_str());
    assert_eq!(i["signatures"].as_array().unwrap().len(), 1);
    assert_eq!(
        i["signatures"][0]["log_entries"][0]["origin"],
        "destination.test/log"
    );
    assert_eq!(verify(&dst)["log_verified"], true);
    let o = pqreg(
        h,
        &[
            "pull",
            &dst,
            &k.p("out"),
            "--identity",
            &k.p("a.key"),
            "--policy",
            &k.p("trust.toml"),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(files(&h.join("out")), files(&tiny()));
    // A second copy uploads no model blob (only a newly logged bundle).
    let c3 = json(h, &["copy", &src, &dst, "--policy", &k.p("trust.toml")]);
    assert_eq!(c3["uploaded_blobs"], 1, "{c3}");

    // Negative: a missing source, a non-pqreg manifest, a digest destination.
    let e = fails(
        h,
        &[
            "copy",
            &format!("{}/nothing/here:v1", reg.addr),
            &format!("{}/x/y", reg2.addr),
        ],
        3,
    );
    assert!(e.contains("not found"), "{e}");
    push_plain_image(&reg, "images/plain");
    let plain = format!("{}/images/plain:v1", reg.addr);
    let e = fails(h, &["inspect", &plain], 1);
    assert!(e.contains("is not a pqreg model"), "{e}");
    let e = fails(
        h,
        &["copy", &plain, &format!("{}/images/plain2", reg2.addr)],
        1,
    );
    assert!(e.contains("is not a pqreg model"), "{e}");
    fails(h, &["copy", &src, &format!("{}/x@{digest}", reg2.addr)], 2);
    fails(h, &["copy", &src, &src], 2);
}

/// A model with a classical (ECDSA P-256) bundle too: copy re-logs the ML-DSA bundle first,
/// so the destination accepts the classical one unchanged; recipients re-signs both.
#[test]
fn classical_bundle_is_copied_after_the_relogged_one() {
    let reg = start_with_origin("one.test/log");
    let reg2 = start_with_origin("two.test/log");
    let k = Keys::new();
    let h = k.h();
    json(
        h,
        &[
            "keygen",
            "--sign",
            "--alg",
            "ecdsa-p256",
            "--out",
            &k.p("p256"),
        ],
    );
    let src = format!("{}/models/tiny:v1", reg.addr);
    let pushed = json(
        h,
        &[
            "push",
            tiny().to_str().unwrap(),
            &src,
            "--recipient",
            &k.p("a.pub"),
            "--sign-key",
            &k.p("signer.key"),
            "--classic-sign-key",
            &k.p("p256.key"),
        ],
    );
    let digest = pushed["digest"].as_str().unwrap().to_owned();
    let algs = |i: &Value| {
        let mut v: Vec<String> = i["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["algorithm"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        algs(&json(h, &["inspect", &src])),
        ["ecdsa-p256-sha256", "ml-dsa-65"]
    );
    let dst = format!("{}/mirror/tiny:v1", reg2.addr);
    let c = json(h, &["copy", &src, &dst, "--signer-pub", &k.p("signer.pub")]);
    let refs = c["referrers"].as_array().unwrap();
    assert_eq!(refs.len(), 2);
    assert_eq!(refs[0]["relogged"], true);
    assert_eq!(refs[1]["relogged"], false);
    assert_eq!(refs[1]["source"], refs[1]["destination"]);
    let i = json(h, &["inspect", &dst]);
    assert_eq!(i["digest"], digest.as_str());
    assert_eq!(algs(&i), ["ecdsa-p256-sha256", "ml-dsa-65"]);
    policy(&h.join("trust.toml"), &h.join("signer.pub"), &[&reg2]);
    add_mirror(
        &h.join("trust.toml"),
        &format!("{}/mirror/tiny", reg2.addr),
        &format!("{}/models/tiny", reg.addr),
    );
    let v = json(
        h,
        &[
            "verify",
            &dst,
            "--identity",
            &k.p("a.key"),
            "--policy",
            &k.p("trust.toml"),
        ],
    );
    assert_eq!(v["log_verified"], true);

    // recipients add with the classical key too: both bundles for the new manifest. The
    // copy's statement is bound to the source repository, so re-signing it here takes a
    // policy whose mirror rule admits it (spec/signing.md §7.2).
    let o = pqreg(
        h,
        &[
            "-o",
            "json",
            "recipients",
            "add",
            &dst,
            &k.p("b.pub"),
            "--identity",
            &k.p("a.key"),
            "--sign-key",
            &k.p("signer.key"),
            "--classic-sign-key",
            &k.p("p256.key"),
            "--policy",
            &k.p("trust.toml"),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    let i = json(h, &["inspect", &dst]);
    assert_ne!(i["digest"], digest.as_str());
    assert_eq!(algs(&i), ["ecdsa-p256-sha256", "ml-dsa-65"]);
    let o = k.pull(&dst, "b", "out");
    assert!(o.status.success(), "{}", show(&o));
    // Without it, the classical bundle is not carried over, and the client says so.
    let o = k.recipients("add", &dst, "c", "a");
    assert!(o.status.success(), "{}", show(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("had a classical (ECDSA P-256) bundle"), "{e}");
    assert_eq!(algs(&json(h, &["inspect", &dst])), ["ml-dsa-65"]);
}
