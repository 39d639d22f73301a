//! Conformance, category Pull (distribution-spec v1.1 "Pull"; modelled on what the upstream
//! suite's `01_pull_test.go` checks), plus the grammar and error cases `spec/api.md` pins.

use pqreg_tests::Registry;
use pqreg_tests::oci::*;
use serde_json::json;

const REPO: &str = "conformance/pull";
const DUMMY: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

#[test]
fn base_endpoint_answers_200() {
    let reg = Registry::start();
    let r = reg.client().get("/v2/");
    assert_eq!(r.status, 200);
    if let Some(v) = r.header("Docker-Distribution-API-Version") {
        assert_eq!(v, "registry/2.0");
    }
}

#[test]
fn pull_blobs_head_get_and_404() {
    let reg = Registry::start();
    let c = reg.client();
    let layer = random_bytes(1, 10_000);
    let d = push_blob(&c, REPO, &layer);

    let r = c.head(&blob_path(REPO, DUMMY));
    assert_eq!(r.status, 404, "HEAD nonexistent blob");
    assert!(r.body.is_empty());

    let r = c.head(&blob_path(REPO, &d));
    assert_eq!(r.status, 200, "HEAD existing blob");
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
    assert_eq!(r.header("Content-Length"), Some("10000"));

    let r = c.get(&blob_path(REPO, DUMMY));
    assert_error(&r, 404, Some("BLOB_UNKNOWN"));

    let r = c.get(&blob_path(REPO, &d));
    assert_eq!(r.status, 200);
    assert_bytes(&r.body, &layer, "GET returns the exact bytes");
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
}

#[test]
fn blob_range_requests() {
    let reg = Registry::start();
    let c = reg.client();
    let blob = random_bytes(2, 5000);
    let d = push_blob(&c, REPO, &blob);
    let p = blob_path(REPO, &d);

    let r = c.get_with(&p, &[("Range", "bytes=10-99")]);
    assert_eq!(r.status, 206, "{}", r.text());
    assert_eq!(r.header("Content-Range"), Some("bytes 10-99/5000"));
    assert_bytes(&r.body, &blob[10..100], "r.body == &blob[10..100]");

    let r = c.get_with(&p, &[("Range", "bytes=4990-")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 4990-4999/5000"));
    assert_bytes(&r.body, &blob[4990..], "r.body == &blob[4990..]");

    let r = c.get_with(&p, &[("Range", "bytes=-7")]);
    assert_eq!(r.status, 206);
    assert_bytes(&r.body, &blob[4993..], "r.body == &blob[4993..]");

    // An end past the size is clipped to the last byte (RFC 9110 14.1.2).
    let r = c.get_with(&p, &[("Range", "bytes=4000-99999")]);
    assert_eq!(r.status, 206);
    assert_bytes(&r.body, &blob[4000..], "r.body == &blob[4000..]");

    let r = c.get_with(&p, &[("Range", "bytes=5000-5010")]);
    assert_eq!(r.status, 416, "start at the end is unsatisfiable");
    assert_eq!(r.header("Content-Range"), Some("bytes */5000"));

    // An end before the start is an invalid range: 416, not the whole blob (the upstream
    // OCI conformance suite sends `bytes=500-0` and counts a 200 as "range unsupported").
    let r = c.get_with(&p, &[("Range", "bytes=500-0")]);
    assert_eq!(r.status, 416, "end before start is unsatisfiable");
    assert_eq!(r.header("Content-Range"), Some("bytes */5000"));
}

#[test]
fn pull_manifests_by_tag_and_digest() {
    let reg = Registry::start();
    let c = reg.client();
    let (manifest, md) = push_image(&c, REPO, "v1", 3, 2);

    let r = c.head(&manifest_path(REPO, "nonexistent"));
    assert_eq!(r.status, 404, "HEAD nonexistent manifest");
    let r = c.get(&manifest_path(REPO, "nonexistent"));
    assert_error(&r, 404, Some("MANIFEST_UNKNOWN"));
    let r = c.get(&manifest_path(REPO, DUMMY));
    assert_error(&r, 404, Some("MANIFEST_UNKNOWN"));

    for reference in ["v1", md.as_str()] {
        let p = manifest_path(REPO, reference);
        let r = c.must("HEAD", &p, &[("Accept", MT_MANIFEST)], b"");
        assert_eq!(r.status, 200, "HEAD {reference}");
        assert_eq!(r.header("Docker-Content-Digest"), Some(md.as_str()));
        assert_eq!(r.header("Content-Type"), Some(MT_MANIFEST));
        assert_eq!(
            r.header("Content-Length"),
            Some(manifest.len().to_string().as_str())
        );
        assert!(r.body.is_empty());

        let r = c.get_with(&p, &[("Accept", MT_MANIFEST)]);
        assert_eq!(r.status, 200, "GET {reference}");
        assert_bytes(&r.body, &manifest, "manifest bytes exactly as pushed");
        assert_eq!(r.header("Docker-Content-Digest"), Some(md.as_str()));
        assert_eq!(r.header("Content-Type"), Some(MT_MANIFEST));
    }
}

#[test]
fn manifest_content_type_is_returned_as_pushed() {
    let reg = Registry::start();
    let c = reg.client();
    let (manifest, md) = push_image(&c, REPO, "img", 4, 1);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [{"mediaType": MT_MANIFEST, "digest": md, "size": manifest.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .unwrap();
    let r = put_manifest(&c, REPO, "multi", MT_INDEX, &index);
    assert_eq!(r.status, 201, "{}", r.text());
    let r = c.get_with(&manifest_path(REPO, "multi"), &[("Accept", MT_INDEX)]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some(MT_INDEX));
    assert_bytes(&r.body, &index, "r.body == index");

    // A Docker schema 2 manifest keeps its own media type.
    const DOCKER: &str = "application/vnd.docker.distribution.manifest.v2+json";
    let cfg = push_blob(&c, REPO, b"{\"docker\":true}");
    let docker = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": cfg, "size": 15},
        "layers": [],
    }))
    .unwrap();
    let r = put_manifest(&c, REPO, "docker", DOCKER, &docker);
    assert_eq!(r.status, 201, "{}", r.text());
    let r = c.get_with(&manifest_path(REPO, "docker"), &[("Accept", DOCKER)]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some(DOCKER));
}

#[test]
fn bad_manifest_put_answers_spec_error_body() {
    let reg = Registry::start();
    let c = reg.client();
    let r = put_manifest(
        &c,
        REPO,
        "sha256:totallywrong",
        MT_MANIFEST,
        b"{\"invalid\": true",
    );
    assert!(matches!(r.status, 400 | 404), "got {}", r.status);
    let codes = r.error_codes();
    assert!(!codes.is_empty(), "error body: {}", r.text());
    assert!(SPEC_ERROR_CODES.contains(&codes[0].as_str()), "{codes:?}");
    assert!(
        r.header("Content-Type")
            .is_some_and(|t| t.starts_with("application/json"))
    );
}

#[test]
fn unknown_repository_answers_404() {
    let reg = Registry::start();
    let c = reg.client();
    let r = c.get(&manifest_path("never/pushed", "latest"));
    assert_eq!(r.status, 404);
    let codes = r.error_codes();
    assert!(
        codes
            .iter()
            .any(|c| c == "NAME_UNKNOWN" || c == "MANIFEST_UNKNOWN"),
        "{codes:?}"
    );
    let r = c.get(&blob_path("never/pushed", DUMMY));
    assert_eq!(r.status, 404);
}

#[test]
fn invalid_repository_names_answer_400_name_invalid() {
    let reg = Registry::start();
    let c = reg.client();
    let too_long = format!("a/{}", "b".repeat(260));
    let names = [
        "UPPER/case",
        "a/../b",
        "..",
        "a/./b",
        "a//b",
        "-leading-dash",
        "trailing-dash-",
        "a/b/",
        too_long.as_str(),
    ];
    for name in names {
        for path in [
            manifest_path(name, "latest"),
            blob_path(name, DUMMY),
            format!("/v2/{name}/tags/list"),
        ] {
            let r = c.get(&path);
            assert!(
                r.status == 400 && r.error_codes().iter().any(|c| c == "NAME_INVALID"),
                "GET {path}: expected 400 NAME_INVALID, got {} {}",
                r.status,
                r.text()
            );
        }
        let r = c.must("POST", &uploads_path(name), &[], b"");
        assert_error(&r, 400, Some("NAME_INVALID"));
    }
    // 255 characters is the longest name allowed.
    let longest = format!("a/{}", "b".repeat(253));
    assert_eq!(longest.len(), 255);
    let r = c.must("POST", &uploads_path(&longest), &[], b"");
    assert_eq!(r.status, 202, "a 255-character name is valid: {}", r.text());
}

#[test]
fn invalid_digests_answer_400_digest_invalid() {
    let reg = Registry::start();
    let c = reg.client();
    let bad = [
        "sha256:xyz",
        "sha256:0123",
        "sha256:ABCDEF0000000000000000000000000000000000000000000000000000000000",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256:",
        "nocolon",
    ];
    for d in bad {
        let r = c.get(&blob_path(REPO, d));
        assert!(
            r.status == 400 && r.error_codes().iter().any(|c| c == "DIGEST_INVALID"),
            "GET blob {d}: expected 400 DIGEST_INVALID, got {} {}",
            r.status,
            r.text()
        );
        let r = c.get(&format!("/v2/{REPO}/referrers/{d}"));
        assert_error(&r, 400, Some("DIGEST_INVALID"));
    }
}

#[test]
fn invalid_tags_are_refused() {
    let reg = Registry::start();
    let c = reg.client();
    let (manifest, _) = push_image(&c, REPO, "ok", 5, 1);
    let long_tag = "t".repeat(129);
    for tag in ["-dash", ".dot", long_tag.as_str()] {
        let r = put_manifest(&c, REPO, tag, MT_MANIFEST, &manifest);
        assert_eq!(r.status, 400, "tag {tag:?}: {}", r.text());
        assert!(!r.error_codes().is_empty(), "{}", r.text());
    }
    let max_tag = format!("_{}", "T".repeat(127));
    let r = put_manifest(&c, REPO, &max_tag, MT_MANIFEST, &manifest);
    assert_eq!(r.status, 201, "a 128-character tag is valid: {}", r.text());
}

/// The upstream suite v1.1.1 (`01_pull_test.go`, "GET/HEAD nonexistent manifest") asks
/// for `.INVALID_MANIFEST_NAME` and expects 404 `MANIFEST_UNKNOWN`: a reference that is
/// neither a tag nor a digest names no manifest (issue 15 §10). PUT still refuses it.
#[test]
fn invalid_manifest_reference_answers_404_on_pull() {
    let reg = Registry::start();
    let c = reg.client();
    let (manifest, _) = push_image(&c, REPO, "ok", 6, 1);
    let long_tag = "t".repeat(129);
    for reference in [
        ".INVALID_MANIFEST_NAME",
        "-dash",
        long_tag.as_str(),
        "sha256:xyz",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
    ] {
        let r = get_manifest(&c, REPO, reference);
        assert_error(&r, 404, Some("MANIFEST_UNKNOWN"));
        let r = c.head(&manifest_path(REPO, reference));
        assert_eq!(r.status, 404, "HEAD {reference}");
    }
    let r = put_manifest(&c, REPO, ".INVALID_MANIFEST_NAME", MT_MANIFEST, &manifest);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(!r.error_codes().is_empty(), "{}", r.text());
}

#[test]
fn wrong_method_answers_405_and_unknown_path_404() {
    let reg = Registry::start();
    let c = reg.client();
    let r = c.must("POST", &manifest_path(REPO, "latest"), &[], b"");
    assert_eq!(r.status, 405, "{}", r.text());
    let r = c.get("/v2/conformance/pull/nothing-here");
    assert_eq!(r.status, 404);
}

#[test]
fn accept_header_negotiation() {
    let reg = Registry::start();
    let c = reg.client();
    let (manifest, _) = push_image(&c, REPO, "neg", 6, 1);
    let p = manifest_path(REPO, "neg");
    for accept in [
        MT_MANIFEST,
        "*/*",
        "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.manifest.v1+json;q=0.9",
    ] {
        let r = c.get_with(&p, &[("Accept", accept)]);
        assert_eq!(r.status, 200, "Accept: {accept}");
        assert_bytes(&r.body, &manifest, "r.body == manifest");
    }
    let r = c.get(&p);
    assert_eq!(r.status, 200, "no Accept header");
    // Accepting only a type the manifest is not.
    let r = c.get_with(
        &p,
        &[(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )],
    );
    assert_error(&r, 404, Some("MANIFEST_UNKNOWN"));
}
