//! Issue 16, "listing and housekeeping": `pqreg ls`, `pqreg delete` and `pqreg cache`,
//! with the real `pqreg` binary against the real `pqreg-registry` on 127.0.0.1.
//!
//! - `ls HOST` lists the catalog, `ls HOST/REPO` the tags, in text and JSON;
//! - `delete REPO:TAG` removes only the tag, `delete REPO@DIGEST` the version and every
//!   tag on it, and the registry's log has a `tag-delete` / `manifest-delete` entry for
//!   each, read back through `pqreg log search` (which verifies inclusion);
//! - `delete REPO` (no tag, no digest) is refused, so a forgotten tag never deletes
//!   `:latest`;
//! - `cache show` counts what `pull --cache` left, `cache prune --older-than` keeps it,
//!   `cache prune` empties it, and a pull afterwards still verifies.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
use crate::log_common::*;
use crate::model_common::{documented, same_fields};
use crate::registry_common::start;

fn code(o: &std::process::Output) -> Option<i32> {
    o.status.code()
}

#[test]
fn ls_lists_repositories_and_tags() {
    let reg = start();
    let h = Home::new();
    h.write_policy(&reg, None);
    h.push_digest(&tiny(), &format!("{}/models/a:v1", reg.addr));
    h.push_digest(&tiny(), &format!("{}/models/a:v2", reg.addr));
    h.push_digest(&tiny(), &format!("{}/models/b:v1", reg.addr));

    let v = h.json(&["ls", &reg.addr]);
    same_fields(&documented("ls-registry"), &v, "ls");
    let repos: Vec<&str> = v["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        repos.contains(&"models/a") && repos.contains(&"models/b"),
        "{v}"
    );
    let v = h.json(&["ls", &format!("{}/models/a", reg.addr)]);
    same_fields(&documented("ls-repository"), &v, "ls");
    assert_eq!(v["repository"], "models/a", "{v}");
    assert_eq!(v["tags"], serde_json::json!(["v1", "v2"]), "{v}");
    let text = h.run_ok(&["ls", &format!("http://{}/models/a/", reg.addr)]);
    assert_eq!(text, "v1\nv2\n");

    // A version is not a listing target.
    let o = h.run(&["ls", &format!("{}/models/a:v1", reg.addr)]);
    assert_eq!(code(&o), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The `fields.kind` of every entry `log search --repo REPO` returns (each inclusion
/// proof verified by the CLI before it prints it).
fn logged_kinds(h: &Home, reg: &str, repo: &str) -> Vec<String> {
    let s = h.json(&["log", "search", reg, "--repo", repo]);
    s["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fields"]["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn delete_removes_a_tag_or_a_version_and_the_log_records_it() {
    let reg = start();
    let h = Home::new();
    h.write_policy(&reg, None);
    let repo = format!("{}/models/gone", reg.addr);
    let d = h.push_digest(&tiny(), &format!("{repo}:v1"));
    // A second tag on the same version, and another version.
    h.run_ok(&[
        "tag",
        &format!("{repo}:v1"),
        "also",
        "--sign-key",
        &h.p("signer.key"),
    ]);
    h.push_digest(&tiny(), &format!("{repo}:v2"));
    let tags = |h: &Home| h.json(&["ls", &repo])["tags"].clone();
    let before = logged_kinds(&h, &reg.addr, "models/gone");

    // No tag and no digest: refused, nothing deleted.
    let o = h.run(&["delete", &repo]);
    assert_eq!(code(&o), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(tags(&h), serde_json::json!(["also", "v1", "v2"]));

    // The tag only: `also` still names the version.
    let v = h.json(&["delete", &format!("{repo}:v1")]);
    assert_eq!(v["deleted"], "tag", "{v}");
    same_fields(&documented("delete"), &v, "delete");
    assert_eq!(tags(&h), serde_json::json!(["also", "v2"]));
    let after_tag = logged_kinds(&h, &reg.addr, "models/gone");
    assert_eq!(after_tag[..before.len()], before[..]);
    assert_eq!(after_tag[before.len()..], ["tag-delete"], "{after_tag:?}");

    // The version by digest: `also` goes with it (one tag-delete per tag, then the
    // manifest-delete), v2 stays, and the version can no longer be pulled.
    let v = h.json(&["delete", &format!("{repo}@{d}")]);
    assert_eq!(v["deleted"], "version", "{v}");
    assert_eq!(tags(&h), serde_json::json!(["v2"]));
    let after = logged_kinds(&h, &reg.addr, "models/gone");
    assert_eq!(
        after[after_tag.len()..],
        ["tag-delete", "manifest-delete"],
        "{after:?}"
    );
    let o = h.run(
        &h.pull_args(&format!("{repo}@{d}"), "out")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(code(&o), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!h.path().join("out").exists());

    // Deleting what is gone says so.
    let o = h.run(&["delete", &format!("{repo}:v1")]);
    assert_eq!(code(&o), Some(3));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn cache_show_and_prune() {
    let reg = start();
    let h = Home::new();
    h.write_policy(&reg, None);
    let r = format!("{}/models/cached:v1", reg.addr);
    h.push_digest(&tiny(), &r);
    let empty = h.json(&["cache", "show"]);
    let mut args = h.pull_args(&r, "out1");
    args.push("--cache".into());
    h.run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let shown = h.json(&["cache", "show"]);
    same_fields(&documented("cache-show"), &shown, "cache show");
    let dir = h.path().join("cache/pqreg/blobs/sha256");
    assert_eq!(shown["path"], dir.to_str().unwrap(), "{shown}");
    let (n, bytes) = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .fold((0u64, 0u64), |(n, b), l| (n + 1, b + l));
    assert!(n > empty["blobs"].as_u64().unwrap(), "{shown}");
    assert_eq!(shown["blobs"], n, "{shown}");
    assert_eq!(shown["bytes"], bytes, "{shown}");

    // Everything was just written: an age limit keeps it all.
    let kept = h.json(&["cache", "prune", "--older-than", "1d"]);
    assert_eq!(kept["removed_files"], 0, "{kept}");
    assert_eq!(kept["kept_files"], n, "{kept}");
    let o = h.run(&["cache", "prune", "--older-than", "week"]);
    assert_eq!(code(&o), Some(2));

    let pruned = h.json(&["cache", "prune"]);
    same_fields(&documented("cache-prune"), &pruned, "cache prune");
    assert_eq!(pruned["removed_files"], n, "{pruned}");
    assert_eq!(pruned["removed_bytes"], bytes, "{pruned}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    let shown = h.json(&["cache", "show"]);
    assert_eq!(
        (shown["blobs"].as_u64(), shown["bytes"].as_u64()),
        (Some(0), Some(0))
    );

    // A pull after the prune downloads again and verifies.
    let v = h.pull_json(&r, "out2");
    assert!(v["downloaded_bytes"].as_u64().unwrap() > 0, "{v}");
}

#[test]
fn tag_signs_the_version_for_the_new_tag() {
    let reg = start();
    let h = Home::new();
    h.write_policy(&reg, None);
    let repo = format!("{}/models/t", reg.addr);
    let d = h.push_digest(&tiny(), &format!("{repo}:v1"));

    // What `pqreg tag` replaces: pointing a tag at the manifest by hand. The statement is
    // bound to v1, so a pull of the new tag refuses it (15).
    let m = get(&format!("http://{}/v2/models/t/manifests/{d}", reg.addr));
    let r = ureq::put(&format!(
        "http://{}/v2/models/t/manifests/by-hand",
        reg.addr
    ))
    .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
    .send(&m[..])
    .unwrap();
    assert_eq!(r.status(), 201);
    let a = h.pull_args(&format!("{repo}:by-hand"), "hand");
    let o = h.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code(&o), Some(15), "{}", String::from_utf8_lossy(&o.stderr));

    // Someone whose key did not sign v1 cannot tag it (no --policy: the version must be
    // the signer's own), and the tag is not created.
    h.run_ok(&["keygen", "--sign", "--out", &h.p("stranger")]);
    let o = h.run(&[
        "tag",
        &format!("{repo}:v1"),
        "stolen",
        "--sign-key",
        &h.p("stranger.key"),
    ]);
    assert_eq!(code(&o), Some(12), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        h.json(&["ls", &repo])["tags"],
        serde_json::json!(["by-hand", "v1"])
    );

    // The signer tags it: same manifest, a signature bound to `stable`, logged.
    let v = h.json(&[
        "tag",
        &format!("{repo}:v1"),
        "stable",
        "--sign-key",
        &h.p("signer.key"),
    ]);
    same_fields(&documented("tag"), &v, "tag");
    assert_eq!(v["digest"], d.as_str(), "{v}");
    assert_eq!(v["logged"], true, "{v}");
    let pulled = h.pull_json(&format!("{repo}:stable"), "stable");
    assert_eq!(pulled["digest"], d.as_str(), "{pulled}");
    assert_eq!(pulled["log_verified"], true, "{pulled}");
    // v1 still pulls (its own signature is still there).
    h.pull_json(&format!("{repo}:v1"), "v1");
    let kinds = logged_kinds(&h, &reg.addr, "models/t");
    assert_eq!(
        kinds.iter().filter(|k| *k == "signature").count(),
        2,
        "{kinds:?}"
    );
}

/// Attack finding G1: the same signer works from two machines (or CI pushes and a laptop
/// tags). CI pushed v1 twice; someone with push rights moves v1 back to the first build.
/// The laptop never saw v1, so its own record of the tag cannot tell; the registry's log
/// can: it holds CI's newer signature for v1. `tag` and `recipients` refuse (16) instead
/// of signing the old build anew under a fresh version (which pullers that had the newer
/// one would accept). A newer version deleted since does not block them.
#[test]
fn re_signing_checks_the_log_for_a_newer_signature_of_the_tag() {
    let reg = start();
    let (ci, laptop) = two_machines(&reg);
    let repo = format!("{}/models/t", reg.addr);
    let v1 = format!("{repo}:v1");
    let d_old = ci.push_digest(&tiny(), &v1);
    let d_new = ci.push_digest(&variant(&ci, "v2", "second build"), &v1);
    assert_ne!(d_old, d_new);

    let m = get(&format!(
        "http://{}/v2/models/t/manifests/{d_old}",
        reg.addr
    ));
    let put = ureq::put(&format!("http://{}/v2/models/t/manifests/v1", reg.addr))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .send(&m[..])
        .unwrap();
    assert_eq!(put.status(), 201);

    let signer = laptop.p("signer.key");
    laptop.run_ok(&["keygen", "--recipient", "--out", &laptop.p("new")]);
    let o = laptop.run(&["tag", &v1, "stable", "--sign-key", &signer]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), Some(16), "{err}");
    assert!(err.contains("with the newer version"), "{err}");
    let o = laptop.run(&[
        "recipients",
        "add",
        &v1,
        &laptop.p("new.pub"),
        "--identity",
        &laptop.p("rcpt.key"),
        "--sign-key",
        &signer,
        "--tag",
        "v1",
    ]);
    assert_eq!(code(&o), Some(16), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        laptop.json(&["ls", &repo])["tags"],
        serde_json::json!(["v1"])
    );

    // The newer build deleted on purpose: v1 back on the old one is what is left.
    laptop.run_ok(&["delete", &format!("{repo}@{d_new}")]);
    let put = ureq::put(&format!("http://{}/v2/models/t/manifests/v1", reg.addr))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .send(&m[..])
        .unwrap();
    assert_eq!(put.status(), 201);
    let v = laptop.json(&["tag", &v1, "stable", "--sign-key", &signer]);
    assert_eq!(v["digest"], d_old.as_str(), "{v}");
}

/// Attack findings H1 and H4 (against the first log check, which compared log
/// positions and trusted only the re-signing key): the laptop pushed v1, CI pushed a
/// newer v1 with its own key (which the laptop's default policy trusts), and someone with
/// push rights put the laptop's old version back on v1 through two `pqreg copy`s, which
/// re-log its old statement after CI's. The signed versions decide: refused (16).
#[test]
fn re_signing_compares_signed_versions_not_log_order() {
    let reg = start();
    let laptop = Home::new();
    let ci = Home::new();
    for f in ["rcpt.key", "rcpt.pub"] {
        std::fs::copy(laptop.path().join(f), ci.path().join(f)).unwrap();
    }
    ci.write_policy(&reg, None);
    // The laptop trusts CI's key in its default policy (its own key signs as itself).
    std::fs::copy(
        laptop.path().join("signer.pub"),
        laptop.path().join("own.pub"),
    )
    .unwrap();
    std::fs::copy(
        ci.path().join("signer.pub"),
        laptop.path().join("signer.pub"),
    )
    .unwrap();
    laptop.write_policy(&reg, None);
    let repo = format!("{}/models/t", reg.addr);
    let v1 = format!("{repo}:v1");
    let d_old = laptop.push_digest(&tiny(), &v1);
    let d_new = ci.push_digest(&variant(&ci, "v2", "second build"), &v1);
    assert_ne!(d_old, d_new);

    let own = laptop.p("own.pub");
    let hop = format!("{}/models/hop:v1", reg.addr);
    ci.run_ok(&[
        "copy",
        &format!("{repo}@{d_old}"),
        &hop,
        "--signer-pub",
        &own,
    ]);
    ci.run_ok(&["copy", &hop, &v1, "--signer-pub", &own]);
    assert_eq!(
        laptop.json(&["inspect", &v1])["digest"],
        d_old.as_str(),
        "the tag is back on the old version"
    );

    let o = laptop.run(&["tag", &v1, "stable", "--sign-key", &laptop.p("signer.key")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), Some(16), "{err}");
    assert!(err.contains("with the newer version"), "{err}");
}

/// Attack finding H8: whoever can push adds, to the newer version, eight referrers that
/// announce tag v1 but point at that version's bundle for another tag (logged, so the
/// registry takes them), with digests ground to be listed before the genuine v1 bundle.
/// A check that tries at most eight bundles then finds no newer signature for v1 on it.
/// The re-sign must not take that for "not newer": refused (16).
#[test]
fn re_signing_refuses_a_newer_version_whose_bundles_were_not_all_checked() {
    use sha2::Digest as _;
    let reg = start();
    let (ci, laptop) = two_machines(&reg);
    let repo = format!("{}/models/t", reg.addr);
    let v1 = format!("{repo}:v1");
    let d_old = ci.push_digest(&tiny(), &v1);
    let d_new = ci.push_digest(&variant(&ci, "v2", "second build"), &v1);
    ci.run_ok(&["tag", &v1, "other", "--sign-key", &ci.p("signer.key")]);

    let base = format!("http://{}/v2/models/t", reg.addr);
    let refs: serde_json::Value =
        serde_json::from_slice(&get(&format!("{base}/referrers/{d_new}"))).unwrap();
    let by_tag = |t: &str| {
        refs["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["annotations"]["dev.pqreg.signature.tag"] == t)
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let genuine = by_tag("v1");
    let other: serde_json::Value =
        serde_json::from_slice(&get(&format!("{base}/manifests/{}", by_tag("other")))).unwrap();
    let mut forged = 0;
    for n in 0..1_000_000u32 {
        let mut m = other.clone();
        m["annotations"]["dev.pqreg.signature.tag"] = "v1".into();
        m["annotations"]["x.nonce"] = n.to_string().into();
        let bytes = serde_json::to_vec(&m).unwrap();
        let d = format!("sha256:{}", hex_of(&sha2::Sha256::digest(&bytes)));
        if d >= genuine {
            continue;
        }
        let r = ureq::put(&format!("{base}/manifests/{d}"))
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .send(&bytes[..])
            .unwrap();
        assert_eq!(r.status(), 201);
        forged += 1;
        if forged == 8 {
            break;
        }
    }
    assert_eq!(forged, 8);
    let m = get(&format!("{base}/manifests/{d_old}"));
    let put = ureq::put(&format!("{base}/manifests/v1"))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .send(&m[..])
        .unwrap();
    assert_eq!(put.status(), 201);

    let o = laptop.run(&["tag", &v1, "stable", "--sign-key", &laptop.p("signer.key")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), Some(16), "{err}");
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One signer on two machines: CI and a laptop with the same signing and recipient keys,
/// each with its own state and the default policy naming the registry's log.
fn two_machines(reg: &crate::registry_common::Registry) -> (Home, Home) {
    let ci = Home::new();
    ci.write_policy(reg, None);
    let laptop = Home::new();
    for f in ["signer.key", "signer.pub", "rcpt.key", "rcpt.pub"] {
        std::fs::copy(ci.path().join(f), laptop.path().join(f)).unwrap();
    }
    laptop.write_policy(reg, None);
    (ci, laptop)
}
