//! SHA-512 blob digests (distribution-spec v1.1: a registry SHOULD accept `sha512`; the
//! upstream conformance suite's `OCI_DATA_SHA512` cases push, pull, mount and delete blobs
//! with them). Pinned here: monolithic and chunked pushes, HEAD/GET with `Range`, a digest
//! mismatch, a malformed digest, a cross-repository mount, a delete, and the same bytes
//! under both algorithms being two blobs; and manifests addressed by SHA-512, with SHA-512
//! descriptors and subjects (spec/api.md, Manifests).
#![allow(clippy::unwrap_used)]

use pqreg_tests::oci::*;
use pqreg_tests::{Registry, with_query};
use sha2::{Digest as _, Sha512};

fn sha512(bytes: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(bytes)))
}

#[test]
fn sha512_blobs_push_pull_mount_delete() {
    let reg = Registry::start();
    let c = reg.client();
    let data = random_bytes(512, 300_000);
    let d = sha512(&data);

    // Monolithic.
    let r = c.must(
        "POST",
        &format!("{}?digest={d}", uploads_path("s512/a")),
        &[("Content-Type", "application/octet-stream")],
        &data,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
    assert_eq!(
        r.location().as_deref(),
        Some(blob_path("s512/a", &d).as_str())
    );
    let h = c.head(&blob_path("s512/a", &d));
    assert_eq!(h.status, 200);
    assert_eq!(h.header("Content-Length"), Some("300000"));
    assert_eq!(h.header("Docker-Content-Digest"), Some(d.as_str()));
    assert_bytes(&c.get(&blob_path("s512/a", &d)).body, &data, "GET sha512");
    let part = c.get_with(&blob_path("s512/a", &d), &[("Range", "bytes=10-19")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &data[10..20]);

    // Chunked, committed with a SHA-512 digest.
    let other = random_bytes(513, 70_000);
    let od = sha512(&other);
    let loc = open_session(&c, "s512/b");
    let r = c.must(
        "PATCH",
        &loc,
        &[
            ("Content-Range", "0-49999"),
            ("Content-Type", "application/octet-stream"),
        ],
        &other[..50_000],
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let loc = r.location().unwrap_or(loc);
    let r = c.must(
        "PUT",
        &with_query(&loc, "digest", &od),
        &[
            ("Content-Range", "50000-69999"),
            ("Content-Type", "application/octet-stream"),
        ],
        &other[50_000..],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_bytes(
        &c.get(&blob_path("s512/b", &od)).body,
        &other,
        "chunked sha512",
    );

    // The same bytes under SHA-256 are another blob; both are served.
    let d256 = push_blob(&c, "s512/b", &other);
    assert_bytes(
        &c.get(&blob_path("s512/b", &d256)).body,
        &other,
        "sha256 twin",
    );

    // Mount from a repository that has it.
    let r = c.must(
        "POST",
        &format!("{}?mount={d}&from=s512/a", uploads_path("s512/c")),
        &[],
        b"",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_bytes(
        &c.get(&blob_path("s512/c", &d)).body,
        &data,
        "mounted sha512",
    );

    // Delete unlinks it from one repository only.
    assert_eq!(c.delete(&blob_path("s512/c", &d)).status, 202);
    assert_error(&c.head(&blob_path("s512/c", &d)), 404, None);
    assert_eq!(c.head(&blob_path("s512/a", &d)).status, 200);
}

#[test]
fn sha512_mismatch_and_malformed_digests_are_refused() {
    let reg = Registry::start();
    let c = reg.client();
    let wrong = sha512(b"something else");
    let r = c.must(
        "POST",
        &format!("{}?digest={wrong}", uploads_path("s512/m")),
        &[("Content-Type", "application/octet-stream")],
        b"these bytes",
    );
    assert_error(&r, 400, Some("DIGEST_INVALID"));
    assert_error(&c.head(&blob_path("s512/m", &wrong)), 404, None);

    let loc = open_session(&c, "s512/m");
    let r = c.must(
        "PUT",
        &with_query(&loc, "digest", &wrong),
        &[("Content-Type", "application/octet-stream")],
        b"these bytes",
    );
    assert_error(&r, 400, Some("DIGEST_INVALID"));

    let d = sha512(b"x");
    for bad in [
        &d[..d.len() - 1],
        &d.to_uppercase().replace("SHA512", "sha512"),
        "sha384:00",
    ] {
        let r = c.get(&blob_path("s512/m", bad));
        assert_error(&r, 400, Some("DIGEST_INVALID"));
    }
}

/// Pushes `bytes` monolithically under their SHA-512 digest; returns it.
fn push_blob512(c: &pqreg_tests::Client, repo: &str, bytes: &[u8]) -> String {
    let d = sha512(bytes);
    let r = c.must(
        "POST",
        &format!("{}?digest={d}", uploads_path(repo)),
        &[("Content-Type", "application/octet-stream")],
        bytes,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    d
}

fn desc512(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": sha512(bytes), "size": bytes.len()})
}

/// Manifests addressed by SHA-512 (the suite's `OCI_DATA_SHA512` cases): PUT by a SHA-512
/// digest, with SHA-512 descriptors; GET/HEAD/DELETE by it, `Docker-Content-Digest` in
/// the algorithm of the reference; a wrong one refused; a SHA-512 subject and its
/// referrers list. The same bytes are not found under their SHA-256 until pushed by it;
/// a DELETE by either digest removes both records.
#[test]
fn sha512_manifests_put_get_delete_and_referrers() {
    let reg = Registry::start();
    let c = reg.client();
    let repo = "s512/m";
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let layer = random_bytes(77, 5000);
    push_blob512(&c, repo, &config);
    push_blob512(&c, repo, &layer);
    let m = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": desc512(MT_CONFIG, &config),
        "layers": [desc512(MT_LAYER, &layer)],
    }))
    .unwrap();
    let d = sha512(&m);
    // A wrong SHA-512 reference.
    let wrong = sha512(b"other");
    let r = put_manifest(&c, repo, &wrong, MT_MANIFEST, &m);
    assert_error(&r, 400, Some("DIGEST_INVALID"));
    // By its SHA-512.
    let r = put_manifest(&c, repo, &d, MT_MANIFEST, &m);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
    assert_eq!(
        r.location().as_deref(),
        Some(manifest_path(repo, &d).as_str())
    );
    for head in [false, true] {
        let r = if head {
            c.head(&manifest_path(repo, &d))
        } else {
            c.get(&manifest_path(repo, &d))
        };
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
        if !head {
            assert_eq!(r.body, m);
        }
    }
    assert_eq!(c.head(&manifest_path(repo, &sha256(&m))).status, 404);
    // A tag on a manifest with SHA-512 descriptors: a push by tag stores it under its
    // SHA-256, so the same bytes get a second record (served only by that digest).
    let r = put_manifest(&c, repo, "v1", MT_MANIFEST, &m);
    assert_eq!(r.status, 201, "{}", r.text());
    let d256 = sha256(&m);
    assert_eq!(r.header("Docker-Content-Digest"), Some(d256.as_str()));
    let r = c.head(&manifest_path(repo, "v1"));
    assert_eq!(r.header("Docker-Content-Digest"), Some(d256.as_str()));

    // A referrer whose subject is the SHA-512 manifest.
    let empty = b"{}";
    push_blob512(&c, repo, empty);
    let referrer = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "artifactType": "application/x.test",
        "config": desc512(MT_EMPTY, empty),
        "layers": [],
        "subject": desc512(MT_MANIFEST, &m),
    }))
    .unwrap();
    let rd = sha512(&referrer);
    let r = put_manifest(&c, repo, &rd, MT_MANIFEST, &referrer);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("OCI-Subject"), Some(d.as_str()));
    let r = c.get(&format!("/v2/{repo}/referrers/{d}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["digest"], rd.as_str());

    // DELETE by SHA-512: the two records are one manifest (spec/api.md, Manifests), so it
    // is gone under both digests, with the tag that names its SHA-256.
    assert_eq!(c.delete(&manifest_path(repo, &d)).status, 202);
    for reference in [d.as_str(), d256.as_str(), "v1"] {
        let r = c.get(&manifest_path(repo, reference));
        assert_eq!(r.status, 404, "{reference} still served");
    }
    assert_eq!(c.delete(&manifest_path(repo, &d)).status, 404);
    assert_eq!(c.delete(&manifest_path(repo, &d256)).status, 404);
    // The referrer is another manifest: it stays, by its SHA-512.
    assert_eq!(c.get(&manifest_path(repo, &rd)).status, 200);
}
