//! Interop with plain OCI storage and a third-party copier: a model pushed by `pqreg` to
//! Debian's `docker-registry` (distribution 2.8: no referrers API, so the bundle is found
//! through the referrers tag `sha256-<hex>`, which `pqreg push` maintains there) pulls
//! back and verifies; `skopeo copy --all --preserve-digests` of the model tag, plus
//! `skopeo copy --preserve-digests` of each signature referrer by digest, to a second
//! docker-registry preserves the manifest digest, and pqreg verifies the copy (policy
//! with `require_log = false`: docker-registry runs no log). pqreg-registry stores only
//! signatures logged in its own log for the repository (spec/signing.md §5), which skopeo
//! cannot do: the copy there is `pqreg copy`, which re-logs the signature (§7.1), and
//! verifies too; so does a `pqreg copy` to a third docker-registry, which writes the
//! referrers tag itself.
//!
//! skopeo 1.9 copies no referrers, and refuses to copy the referrers tag's index with
//! `--preserve-digests` ("Manifest list must be converted ... cannot modify it"), so the
//! referrers go by digest, and for a docker-registry destination the index of the
//! referrers tag is copied as it is (GET, PUT: its digest is preserved too). Skipped
//! without docker-registry or skopeo (fails under CI).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use crate::cli_common;
use crate::cli_common::{Home, files, ok, policy, tiny, tool};
use crate::registry_common;

fn skopeo_copy(src: &str, dst: &str) {
    let o = Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .arg(format!("docker://{src}"))
        .arg(format!("docker://{dst}"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "skopeo copy {src} {dst}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn pull(h: &Home, reference: &str, out: &str) -> serde_json::Value {
    serde_json::from_str(&ok(&h.pull(reference, out, "rcpt.key", &[]))).unwrap()
}

#[test]
fn docker_registry_push_pull_and_skopeo_copy() {
    let Some(a) = registry_common::start_docker_registry() else {
        return;
    };
    if tool("skopeo", &["--version"]).is_none() {
        return;
    }
    let b = registry_common::start_docker_registry().unwrap();
    let c = registry_common::start();
    let h = Home::new();
    policy(
        &h.path().join("trust.toml"),
        &h.path().join("signer.pub"),
        "127.0.0.1:*/models/*",
    );
    let d = registry_common::start_docker_registry().unwrap();
    // The copies below are statements bound to a's repository (spec/signing.md §3.1):
    // the policy says b, c and d mirror a (§6 `[[mirrors]]`).
    let mut text = std::fs::read_to_string(h.path().join("trust.toml")).unwrap();
    for m in [&b.addr, &c.addr, &d.addr] {
        text.push_str(&format!(
            "\n[[mirrors]]\npull = \"{m}/models\"\nsigned = \"{}/models\"\n",
            a.addr
        ));
    }
    std::fs::write(h.path().join("trust.toml"), text).unwrap();
    let src = tiny();
    let r = format!("{}/models/tiny:v1", a.addr);
    let pushed: serde_json::Value =
        serde_json::from_str(&ok(&h.push(&src, &r, "signer.key", &[]))).unwrap();
    let digest = pushed["digest"].as_str().unwrap().to_owned();

    let got = pull(&h, &r, "out-a");
    assert_eq!(got["digest"], digest);
    assert_eq!(files(&h.path().join("out-a")), files(Path::new(&src)));

    // The referrers tag is what carries the signature on a plain registry.
    let sig_tag = digest.replace(':', "-");
    let index_url = |host: &str| format!("http://{host}/v2/models/tiny/manifests/{sig_tag}");
    let index = ureq::get(index_url(&a.addr))
        .header("Accept", "application/vnd.oci.image.index.v1+json")
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    let referrers: serde_json::Value = serde_json::from_slice(&index).unwrap();
    let referrers: Vec<String> = referrers["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_owned())
        .collect();
    assert!(!referrers.is_empty());
    // To docker-registry with skopeo (the referrers tag copied by hand). pqreg-registry
    // stores only signatures logged in its own log for the repository (spec/signing.md
    // §5, §7.1), so skopeo cannot copy the bundle there: `pqreg copy` re-logs it.
    skopeo_copy(&r, &format!("{}/models/tiny:v1", b.addr));
    for d in &referrers {
        skopeo_copy(
            &format!("{}/models/tiny@{d}", a.addr),
            &format!("{}/models/tiny@{d}", b.addr),
        );
    }
    ureq::put(index_url(&b.addr))
        .header("Content-Type", "application/vnd.oci.image.index.v1+json")
        .send(&index[..])
        .unwrap();
    ok(&h.run(&[
        "copy",
        &r,
        &format!("{}/models/tiny:v1", c.addr),
        "--signer-pub",
        &h.p("signer.pub"),
    ]));
    for (dst, name) in [(&b.addr, "out-b"), (&c.addr, "out-c")] {
        let got = pull(&h, &format!("{dst}/models/tiny:v1"), name);
        assert_eq!(got["digest"], digest, "{dst}: digest preserved");
        assert_eq!(files(&h.path().join(name)), files(Path::new(&src)));
    }
    // pqreg copy between two registries without the referrers API writes the referrers
    // tag itself.
    ok(&h.run(&["copy", &r, &format!("{}/models/tiny:v1", d.addr)]));
    let got = pull(&h, &format!("{}/models/tiny:v1", d.addr), "out-d");
    assert_eq!(got["digest"], digest);
    // Without the referrers tag, a copy has no signature: exit 11, nothing written.
    skopeo_copy(&r, &format!("{}/models/bare:v1", b.addr));
    let o = h.pull(
        &format!("{}/models/bare:v1", b.addr),
        "out-bare",
        "rcpt.key",
        &[],
    );
    cli_common::exits(&o, 11, "copy without its referrers");
    assert!(!h.path().join("out-bare").exists());
}
