//! Manifests a hostile pusher sends, over real HTTP against the real registry process
//! (issue 15 §6 and §7):
//!
//! - a manifest pushed as `text/html` (stored XSS on the registry's origin) is refused,
//!   and every kind of response carries `X-Content-Type-Options: nosniff` and a
//!   sandboxing `Content-Security-Policy`;
//! - an image manifest that also carries `"manifests": []` no longer skips the check that
//!   its blobs exist (it was taken for an index).

use base64::Engine;
use pqreg_tests::oci::*;
use pqreg_tests::{Registry, Response};
use serde_json::json;

const REPO: &str = "hostile/manifests";

#[track_caller]
fn sandboxed(r: &Response, what: &str) {
    assert_eq!(
        r.header("X-Content-Type-Options"),
        Some("nosniff"),
        "{what}: status {}",
        r.status
    );
    let csp = r
        .header("Content-Security-Policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy (status {})", r.status));
    assert!(
        csp.contains("sandbox") && csp.contains("default-src 'none'"),
        "{what}: {csp}"
    );
}

#[test]
fn html_manifest_is_refused() {
    let reg = Registry::start();
    let c = reg.client();
    let html = br#"<html><script>fetch('/v2/x/manifests/latest',{method:'DELETE'})</script>{"schemaVersion":2}</html>"#;
    for (ct, body) in [
        // Valid JSON shaped like an index: stored and served as HTML before the fix.
        (
            "text/html",
            br#"{"schemaVersion":2,"manifests":[],"x":"<script>alert(1)</script>"}"#.as_slice(),
        ),
        ("text/html", &html[..]),
        ("text/html; charset=utf-8", &html[..]),
        // Valid JSON, but not a manifest type: still what a browser could be told to render.
        (
            "text/html",
            br#"{"schemaVersion":2,"layers":[],"config":null}"#.as_slice(),
        ),
        ("image/svg+xml", br#"{"schemaVersion":2}"#.as_slice()),
        (
            "application/json",
            br#"{"schemaVersion":2,"manifests":[]}"#.as_slice(),
        ),
    ] {
        let r = put_manifest(&c, REPO, "page", ct, body);
        assert_error(&r, 400, Some("MANIFEST_INVALID"));
        sandboxed(&r, "refused manifest PUT");
        assert_eq!(c.head(&manifest_path(REPO, "page")).status, 404, "{ct}");
    }
    // The mediaType field cannot smuggle it in either (no Content-Type header).
    let body = json!({"schemaVersion": 2, "mediaType": "text/html", "manifests": []});
    let r = c.must(
        "PUT",
        &manifest_path(REPO, "page"),
        &[],
        body.to_string().as_bytes(),
    );
    assert_error(&r, 400, Some("MANIFEST_INVALID"));
    // The four manifest types are accepted.
    let (m, _) = push_image(&c, REPO, "ok", 7, 1);
    let docker = String::from_utf8(m.clone()).unwrap().replace(
        MT_MANIFEST,
        "application/vnd.docker.distribution.manifest.v2+json",
    );
    let r = put_manifest(
        &c,
        REPO,
        "docker",
        "application/vnd.docker.distribution.manifest.v2+json",
        docker.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let index = json!({"schemaVersion": 2, "mediaType": MT_INDEX,
        "manifests": [{"mediaType": MT_MANIFEST, "digest": sha256(&m), "size": m.len()}]});
    let r = put_manifest(&c, REPO, "index", MT_INDEX, index.to_string().as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn every_kind_of_response_is_sandboxed() {
    let mut reg = Registry::start();
    let c = reg.client();
    let (m, d) = push_image(&c, REPO, "v1", 8, 1);
    let layer = serde_json::from_slice::<serde_json::Value>(&m).unwrap()["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut seen = Vec::new();
    let mut check = |what: &str, r: Response| {
        sandboxed(&r, what);
        seen.push((what.to_owned(), r.status));
    };
    check("base", c.get("/v2/"));
    check("manifest GET", get_manifest(&c, REPO, "v1"));
    check("manifest HEAD", c.head(&manifest_path(REPO, &d)));
    check("blob GET", c.get(&blob_path(REPO, &layer)));
    check("blob HEAD", c.head(&blob_path(REPO, &layer)));
    check("upload POST", c.must("POST", &uploads_path(REPO), &[], b""));
    check(
        "manifest PUT",
        put_manifest(&c, REPO, "v2", MT_MANIFEST, &m),
    );
    check("tags", c.get(&format!("/v2/{REPO}/tags/list")));
    check("catalog", c.get("/v2/_catalog"));
    check("referrers", c.get(&format!("/v2/{REPO}/referrers/{d}")));
    check("unknown manifest", get_manifest(&c, REPO, "nope"));
    check("bad digest", c.get(&blob_path(REPO, "sha256:xyz")));
    check("method not allowed", c.must("PATCH", "/v2/", &[], b""));
    check("unknown path", c.get("/nowhere"));
    check("metrics", c.get("/metrics"));
    check("livez", c.get("/livez"));
    check("log checkpoint", c.get("/log/checkpoint"));
    check("log tile 404", c.get("/log/tile/0/999"));
    check("delete", c.delete(&manifest_path(REPO, "v2")));

    // Access-control refusals (answered by the middleware, not a handler).
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("htpasswd");
    std::fs::write(
        &pw,
        format!("alice:{}\n", bcrypt::hash("alice-pw", 4).unwrap()),
    )
    .unwrap();
    reg.set_config(&format!(
        "[auth]\nmode = \"basic\"\nhtpasswd = \"{}\"\n[[auth.rules]]\nrepositories = [\"mine/*\"]\nusers = [\"alice\"]\nactions = [\"pull\", \"push\"]\n",
        pw.display()
    ));
    reg.restart();
    let c = reg.client();
    let alice = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:alice-pw")
    );
    check("401", c.get(&manifest_path(REPO, "v1")));
    check(
        "403",
        c.get_with(&manifest_path(REPO, "v1"), &[("Authorization", &alice)]),
    );
    let statuses: Vec<u16> = seen.iter().map(|(_, s)| *s).collect();
    for want in [200, 201, 202, 400, 401, 403, 404, 405] {
        assert!(statuses.contains(&want), "no {want} among {seen:?}");
    }
}

#[test]
fn image_manifest_with_empty_manifests_key_is_not_an_index() {
    let reg = Registry::start();
    let c = reg.client();
    push_image(&c, REPO, "seed", 9, 1);
    let config = br#"{"never":"pushed"}"#;
    let layer = b"a layer that is not in the registry";
    let mut m: serde_json::Value = serde_json::from_slice(&image_manifest(
        &Desc::of(MT_CONFIG, config),
        &[Desc::of(MT_LAYER, layer)],
        json!({}),
    ))
    .unwrap();
    m["manifests"] = json!([]);
    // As an image manifest, and (without its mediaType field) as an index.
    let mut untyped = m.clone();
    untyped.as_object_mut().unwrap().remove("mediaType");
    for (ct, body) in [(MT_MANIFEST, &m), (MT_INDEX, &untyped)] {
        let body = serde_json::to_vec(body).unwrap();
        let r = put_manifest(&c, REPO, "ghost", ct, &body);
        assert_error(&r, 400, Some("MANIFEST_INVALID"));
        assert!(r.text().contains("both"), "{}", r.text());
    }
    assert_eq!(c.head(&manifest_path(REPO, "ghost")).status, 404);
    // Without the extra key the same manifest is refused for its missing blobs.
    m.as_object_mut().unwrap().remove("manifests");
    let r = put_manifest(
        &c,
        REPO,
        "ghost",
        MT_MANIFEST,
        &serde_json::to_vec(&m).unwrap(),
    );
    assert_error(&r, 400, Some("MANIFEST_BLOB_UNKNOWN"));
    // An index whose media type says index is checked as one: its children must exist.
    let index = json!({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
        {"mediaType": MT_MANIFEST, "digest": sha256(b"absent"), "size": 6}]});
    let r = put_manifest(&c, REPO, "idx", MT_INDEX, index.to_string().as_bytes());
    assert_error(&r, 400, Some("MANIFEST_BLOB_UNKNOWN"));
}
