//! Conformance, category Push (distribution-spec v1.1 "Push"; modelled on what the upstream
//! suite's `02_push_test.go` checks): streamed, monolithic and chunked uploads, session
//! status and cancel, cross-repository mount, manifest upload and its limits.

use pqreg_tests::oci::*;
use pqreg_tests::{Client, Registry, with_query};
use serde_json::json;

const REPO: &str = "conformance/push";
const OCTET: (&str, &str) = ("Content-Type", "application/octet-stream");
const DUMMY: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fn patch(
    c: &Client,
    loc: &str,
    range: Option<(usize, usize)>,
    body: &[u8],
) -> pqreg_tests::Response {
    let cr = range.map(|(a, b)| format!("{a}-{b}"));
    let mut h = vec![OCTET];
    if let Some(cr) = cr.as_deref() {
        h.push(("Content-Range", cr));
    }
    c.must("PATCH", loc, &h, body)
}

#[test]
fn streamed_upload_patch_then_put() {
    let reg = Registry::start();
    let c = reg.client();
    let blob = random_bytes(10, 70_000);
    let d = sha256(&blob);
    let loc = open_session(&c, REPO);
    let r = patch(&c, &loc, None, &blob);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("Range"), Some("0-69999"));
    let loc = r.location().expect("PATCH 202 has Location");
    let r = c.must("PUT", &with_query(&loc, "digest", &d), &[OCTET], b"");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
    let blob_loc = r.location().expect("201 has Location");
    let r = c.get(&blob_loc);
    assert_eq!(r.status, 200, "Location {blob_loc} is pullable");
    assert_bytes(&r.body, &blob, "r.body == blob");
}

#[test]
fn monolithic_single_post() {
    let reg = Registry::start();
    let c = reg.client();
    let blob = random_bytes(11, 3000);
    let d = sha256(&blob);
    let r = c.must(
        "POST",
        &with_query(&uploads_path(REPO), "digest", &d),
        &[OCTET],
        &blob,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.location().as_deref(), Some(blob_path(REPO, &d).as_str()));
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
    assert_bytes(
        &c.get(&blob_path(REPO, &d)).body,
        &blob,
        "c.get(&blob_path(REPO, &d)).body == blob",
    );
}

#[test]
fn monolithic_post_then_put() {
    let reg = Registry::start();
    let c = reg.client();
    let blob = random_bytes(12, 4096);
    let d = sha256(&blob);
    let r = c.must("POST", &uploads_path(REPO), &[], b"");
    assert_eq!(r.status, 202);
    let loc = r.location().expect("Location");
    assert!(
        loc.starts_with(&uploads_path(REPO)),
        "session under the repository: {loc}"
    );
    let r = c.must("PUT", &with_query(&loc, "digest", &d), &[OCTET], &blob);
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.header("Location").is_some());
    let r = c.get(&blob_path(REPO, &d));
    assert_eq!(r.status, 200);
    assert_bytes(&r.body, &blob, "r.body == blob");
    // Pushing the same blob again is fine (dedup) and still 201.
    assert_eq!(push_blob(&c, REPO, &blob), d);
}

#[test]
fn digest_mismatch_is_refused_and_leaves_nothing() {
    let reg = Registry::start();
    let c = reg.client();
    let blob = random_bytes(13, 2048);
    let wrong = sha256(b"something else");
    let loc = open_session(&c, REPO);
    let r = c.must("PUT", &with_query(&loc, "digest", &wrong), &[OCTET], &blob);
    assert_error(&r, 400, Some("DIGEST_INVALID"));
    assert_eq!(c.head(&blob_path(REPO, &wrong)).status, 404);
    assert_eq!(c.head(&blob_path(REPO, &sha256(&blob))).status, 404);

    let r = c.must(
        "POST",
        &with_query(&uploads_path(REPO), "digest", &wrong),
        &[OCTET],
        &blob,
    );
    assert_error(&r, 400, Some("DIGEST_INVALID"));
    assert_eq!(c.head(&blob_path(REPO, &wrong)).status, 404);

    // Malformed and missing digests.
    let loc = open_session(&c, REPO);
    let r = c.must(
        "PUT",
        &with_query(&loc, "digest", "sha256:nothex"),
        &[OCTET],
        &blob,
    );
    assert_error(&r, 400, Some("DIGEST_INVALID"));
    let r = c.must("PUT", &loc, &[OCTET], &blob);
    assert_error(&r, 400, Some("DIGEST_INVALID"));
}

#[test]
fn chunked_upload_in_order_with_status_and_retry() {
    let reg = Registry::start();
    let c = reg.client();
    let blob = random_bytes(14, 300_000);
    let d = sha256(&blob);
    let (a, b) = blob.split_at(120_000);
    let r = c.must("POST", &uploads_path(REPO), &[], b"");
    assert_eq!(r.status, 202);
    let first = r.location().expect("Location");

    let r = patch(&c, &first, Some((0, a.len() - 1)), a);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("Range"), Some("0-119999"));
    assert!(r.header("Location").is_some());

    // The same chunk again is out of order now.
    let r = patch(&c, &first, Some((0, a.len() - 1)), a);
    assert_eq!(r.status, 416, "retrying a committed chunk: {}", r.text());

    // Session status.
    let r = c.get(&first);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("Range"), Some("0-119999"));
    let loc = r.location().expect("status has Location");

    let r = patch(&c, &loc, Some((a.len(), blob.len() - 1)), b);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("Range"), Some("0-299999"));
    let loc = r.location().expect("Location");
    let r = c.must("PUT", &with_query(&loc, "digest", &d), &[OCTET], b"");
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.header("Location").is_some());
    assert_bytes(
        &c.get(&blob_path(REPO, &d)).body,
        &blob,
        "c.get(&blob_path(REPO, &d)).body == blob",
    );
}

#[test]
fn chunked_upload_last_chunk_in_put() {
    let reg = Registry::start();
    let c = reg.client();
    let blob = random_bytes(15, 10_000);
    let d = sha256(&blob);
    let loc = open_session(&c, REPO);
    let r = patch(&c, &loc, Some((0, 5999)), &blob[..6000]);
    assert_eq!(r.status, 202);
    let loc = r.location().expect("Location");
    let r = c.must(
        "PUT",
        &with_query(&loc, "digest", &d),
        &[OCTET, ("Content-Range", "6000-9999")],
        &blob[6000..],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_bytes(
        &c.get(&blob_path(REPO, &d)).body,
        &blob,
        "c.get(&blob_path(REPO, &d)).body == blob",
    );
}

#[test]
fn chunked_out_of_order_overlap_and_gap_answer_416() {
    let reg = Registry::start();
    let c = reg.client();
    let blob = random_bytes(16, 1000);
    // First chunk not starting at 0.
    let loc = open_session(&c, REPO);
    let r = patch(&c, &loc, Some((500, 999)), &blob[500..]);
    assert_eq!(r.status, 416, "out-of-order first chunk: {}", r.text());
    // Overlap and gap after a good chunk.
    let r = patch(&c, &loc, Some((0, 499)), &blob[..500]);
    assert_eq!(r.status, 202, "{}", r.text());
    let r = patch(&c, &loc, Some((400, 899)), &blob[400..900]);
    assert_eq!(r.status, 416, "overlapping chunk: {}", r.text());
    assert_eq!(
        r.header("Range"),
        Some("0-499"),
        "416 tells where the session is"
    );
    let r = patch(&c, &loc, Some((600, 999)), &blob[600..]);
    assert_eq!(r.status, 416, "chunk leaving a gap: {}", r.text());
    // The session is intact: finish it.
    let r = patch(&c, &loc, Some((500, 999)), &blob[500..]);
    assert_eq!(r.status, 202);
    let r = c.must(
        "PUT",
        &with_query(&loc, "digest", &sha256(&blob)),
        &[OCTET],
        b"",
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn content_length_must_match_content_range() {
    let reg = Registry::start();
    let c = reg.client();
    let loc = open_session(&c, REPO);
    let r = patch(&c, &loc, Some((0, 99)), &[7u8; 50]);
    assert!(
        r.status == 400 || r.status == 416,
        "Content-Range of 100 bytes with a 50-byte body: {} {}",
        r.status,
        r.text()
    );
}

#[test]
fn unknown_session_cancel_and_cross_repository_session() {
    let reg = Registry::start();
    let c = reg.client();
    let unknown = format!(
        "{}{}",
        uploads_path(REPO),
        "0123456789abcdef0123456789abcdef"
    );
    assert_error(&c.get(&unknown), 404, Some("BLOB_UPLOAD_UNKNOWN"));
    assert_error(
        &patch(&c, &unknown, None, b"x"),
        404,
        Some("BLOB_UPLOAD_UNKNOWN"),
    );
    let r = c.must(
        "PUT",
        &with_query(&unknown, "digest", &sha256(b"x")),
        &[OCTET],
        b"x",
    );
    assert_error(&r, 404, Some("BLOB_UPLOAD_UNKNOWN"));
    assert_error(&c.delete(&unknown), 404, Some("BLOB_UPLOAD_UNKNOWN"));

    // A session belongs to its repository.
    let loc = open_session(&c, REPO);
    let other = loc.replacen(REPO, "conformance/other", 1);
    assert_ne!(other, loc);
    assert_error(&c.get(&other), 404, Some("BLOB_UPLOAD_UNKNOWN"));

    // Cancel.
    let r = c.delete(&loc);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_error(&c.get(&loc), 404, Some("BLOB_UPLOAD_UNKNOWN"));
}

#[test]
fn blobs_are_visible_only_where_pushed_or_mounted() {
    let reg = Registry::start();
    let c = reg.client();
    let blob = random_bytes(17, 777);
    let d = push_blob(&c, "mount/source", &blob);
    assert_eq!(c.head(&blob_path("mount/elsewhere", &d)).status, 404);
    assert_error(
        &c.get(&blob_path("mount/elsewhere", &d)),
        404,
        Some("BLOB_UNKNOWN"),
    );
}

#[test]
fn cross_repository_mount() {
    let reg = Registry::start();
    let c = reg.client();
    let blob = random_bytes(18, 4321);
    let d = push_blob(&c, "mount/source", &blob);

    // Without `from`: a session, never a mount (existence elsewhere is not disclosed).
    let r = c.must(
        "POST",
        &with_query(&uploads_path("mount/target"), "mount", &d),
        &[],
        b"",
    );
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(
        r.location()
            .is_some_and(|l| l.starts_with(&uploads_path("mount/target")))
    );

    // From a repository that does not have it: a session, and the blob stays invisible.
    let blob2 = random_bytes(19, 99);
    let d2 = push_blob(&c, "mount/third", &blob2);
    let q = format!(
        "{}?mount={d2}&from=mount/source",
        uploads_path("mount/target")
    );
    let r = c.must("POST", &q, &[], b"");
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(
        r.location()
            .is_some_and(|l| l.starts_with(&uploads_path("mount/target")))
    );
    assert_eq!(c.head(&blob_path("mount/target", &d2)).status, 404);

    // Nonexistent blob: a session.
    let q = format!(
        "{}?mount={DUMMY}&from=mount/source",
        uploads_path("mount/target")
    );
    assert_eq!(c.must("POST", &q, &[], b"").status, 202);

    // Visible in the source: 201 and readable in the target.
    let q = format!(
        "{}?mount={d}&from=mount/source",
        uploads_path("mount/target")
    );
    let r = c.must("POST", &q, &[], b"");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.location().as_deref(),
        Some(blob_path("mount/target", &d).as_str())
    );
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
    let r = c.get(&blob_path("mount/target", &d));
    assert_eq!(r.status, 200);
    assert_bytes(&r.body, &blob, "r.body == blob");
}

#[test]
fn manifest_upload_by_tag_and_digest() {
    let reg = Registry::start();
    let c = reg.client();
    let cfg = push_blob(&c, REPO, EMPTY_JSON);
    assert_eq!(cfg, EMPTY_JSON_DIGEST);
    let layer = random_bytes(20, 1000);
    push_blob(&c, REPO, &layer);
    let m = image_manifest(
        &Desc::of(MT_CONFIG, EMPTY_JSON),
        &[Desc::of(MT_LAYER, &layer)],
        json!({}),
    );
    let md = sha256(&m);
    assert_eq!(c.get(&manifest_path(REPO, "test0")).status, 404);
    for i in 0..4 {
        let tag = format!("test{i}");
        let r = put_manifest(&c, REPO, &tag, MT_MANIFEST, &m);
        assert_eq!(r.status, 201, "{}", r.text());
        assert!(r.header("Location").is_some());
        assert_eq!(r.header("Docker-Content-Digest"), Some(md.as_str()));
    }
    let r = c.get_with(&manifest_path(REPO, &md), &[("Accept", MT_MANIFEST)]);
    assert_eq!(r.status, 200);
    assert_bytes(&r.body, &m, "r.body == m");

    // By digest.
    let m2 = image_manifest(
        &Desc::of(MT_CONFIG, EMPTY_JSON),
        &[],
        json!({"annotations": {"k": "v"}}),
    );
    let d2 = sha256(&m2);
    let r = put_manifest(&c, REPO, &d2, MT_MANIFEST, &m2);
    assert_eq!(
        r.status,
        201,
        "manifest with no layers by digest: {}",
        r.text()
    );
    assert_eq!(
        r.location().as_deref(),
        Some(manifest_path(REPO, &d2).as_str())
    );
    // A digest reference the body does not hash to.
    let r = put_manifest(&c, REPO, &md, MT_MANIFEST, &m2);
    assert_error(&r, 400, Some("DIGEST_INVALID"));
}

#[test]
fn manifest_referencing_unknown_blob_is_refused() {
    let reg = Registry::start();
    let c = reg.client();
    push_blob(&c, REPO, EMPTY_JSON);
    let ghost = random_bytes(21, 100);
    let m = image_manifest(
        &Desc::of(MT_CONFIG, EMPTY_JSON),
        &[Desc::of(MT_LAYER, &ghost)],
        json!({}),
    );
    let r = put_manifest(&c, REPO, "ghost", MT_MANIFEST, &m);
    assert_error(&r, 400, Some("MANIFEST_BLOB_UNKNOWN"));
    assert_eq!(c.get(&manifest_path(REPO, "ghost")).status, 404);
}

#[test]
fn invalid_manifests_are_refused() {
    let reg = Registry::start();
    let c = reg.client();
    push_blob(&c, REPO, EMPTY_JSON);
    let bad: [&[u8]; 4] = [
        b"not json",
        b"[1,2,3]",
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:zz","size":2},"layers":[]}"#,
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":-1},"layers":[]}"#,
    ];
    for body in bad {
        let r = put_manifest(&c, REPO, "bad", MT_MANIFEST, body);
        assert_error(&r, 400, Some("MANIFEST_INVALID"));
    }
    // Content-Type and mediaType disagree.
    let m = image_manifest(&Desc::of(MT_CONFIG, EMPTY_JSON), &[], json!({}));
    let r = put_manifest(&c, REPO, "bad", MT_INDEX, &m);
    assert_error(&r, 400, Some("MANIFEST_INVALID"));
}

#[test]
fn manifest_size_limit_is_4_mib() {
    let reg = Registry::start();
    let c = reg.client();
    push_blob(&c, REPO, EMPTY_JSON);
    let limit = 4 * 1024 * 1024;
    let sized = |target: usize| {
        let base = image_manifest(
            &Desc::of(MT_CONFIG, EMPTY_JSON),
            &[],
            json!({"annotations": {"pad": ""}}),
        );
        let pad = "p".repeat(target - base.len());
        let m = image_manifest(
            &Desc::of(MT_CONFIG, EMPTY_JSON),
            &[],
            json!({"annotations": {"pad": pad}}),
        );
        assert_eq!(m.len(), target);
        m
    };
    let at_limit = sized(limit);
    let r = put_manifest(&c, REPO, "big", MT_MANIFEST, &at_limit);
    assert_eq!(
        r.status,
        201,
        "a manifest of exactly 4 MiB is accepted: {}",
        &r.text()
    );
    assert_bytes(
        &c.get(&manifest_path(REPO, "big")).body,
        &at_limit,
        "c.get(&manifest_path(REPO, \"big\")).body == at_limit",
    );
    let over = sized(limit + 1);
    let r = put_manifest(&c, REPO, "toobig", MT_MANIFEST, &over);
    assert_error(&r, 413, Some("MANIFEST_INVALID"));
    assert_eq!(c.get(&manifest_path(REPO, "toobig")).status, 404);
}
