//! Conformance, category Content Management (distribution-spec v1.1 "Content Management";
//! modelled on what the upstream suite's `04_management_test.go` checks): deleting tags,
//! manifests and blobs, and what each deletion makes disappear.

use pqreg_tests::Registry;
use pqreg_tests::oci::*;
use serde_json::json;

const REPO: &str = "conformance/management";
const DUMMY: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fn tag_list(c: &pqreg_tests::Client) -> Vec<String> {
    let r = c.get(&format!("/v2/{REPO}/tags/list"));
    assert_eq!(r.status, 200);
    serde_json::from_value(r.json()["tags"].clone()).unwrap_or_default()
}

#[test]
fn delete_tag_keeps_manifest() {
    let reg = Registry::start();
    let c = reg.client();
    let (m, d) = push_image(&c, REPO, "tagtest0", 60, 1);
    assert_eq!(put_manifest(&c, REPO, "keep", MT_MANIFEST, &m).status, 201);
    assert_eq!(tag_list(&c), ["keep", "tagtest0"]);
    let r = c.delete(&manifest_path(REPO, "tagtest0"));
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(tag_list(&c), ["keep"]);
    assert_error(
        &get_manifest(&c, REPO, "tagtest0"),
        404,
        Some("MANIFEST_UNKNOWN"),
    );
    assert_eq!(get_manifest(&c, REPO, &d).status, 200, "the manifest stays");
    assert_error(
        &c.delete(&manifest_path(REPO, "tagtest0")),
        404,
        Some("MANIFEST_UNKNOWN"),
    );
}

#[test]
fn delete_manifest_by_digest_removes_its_tags() {
    let reg = Registry::start();
    let c = reg.client();
    let (m, d) = push_image(&c, REPO, "a", 61, 2);
    assert_eq!(put_manifest(&c, REPO, "b", MT_MANIFEST, &m).status, 201);
    push_image(&c, REPO, "other", 62, 1);
    let r = c.delete(&manifest_path(REPO, &d));
    assert_eq!(r.status, 202, "{}", r.text());
    assert_error(&get_manifest(&c, REPO, &d), 404, Some("MANIFEST_UNKNOWN"));
    assert_eq!(c.head(&manifest_path(REPO, "a")).status, 404);
    assert_eq!(
        tag_list(&c),
        ["other"],
        "tags of the deleted manifest are gone"
    );
    assert_error(
        &c.delete(&manifest_path(REPO, &d)),
        404,
        Some("MANIFEST_UNKNOWN"),
    );
    assert_error(
        &c.delete(&manifest_path(REPO, DUMMY)),
        404,
        Some("MANIFEST_UNKNOWN"),
    );
}

#[test]
fn delete_blob() {
    let reg = Registry::start();
    let c = reg.client();
    let blob = random_bytes(63, 2000);
    let d = push_blob(&c, REPO, &blob);
    let r = c.delete(&blob_path(REPO, &d));
    assert_eq!(r.status, 202, "{}", r.text());
    assert_error(&c.get(&blob_path(REPO, &d)), 404, Some("BLOB_UNKNOWN"));
    assert_eq!(c.head(&blob_path(REPO, &d)).status, 404);
    assert_error(&c.delete(&blob_path(REPO, &d)), 404, Some("BLOB_UNKNOWN"));
    // Deleting in one repository leaves another repository's link alone.
    let d2 = push_blob(&c, "conformance/a", &blob);
    push_blob(&c, "conformance/b", &blob);
    assert_eq!(c.delete(&blob_path("conformance/a", &d2)).status, 202);
    assert_bytes(
        &c.get(&blob_path("conformance/b", &d2)).body,
        &blob,
        "c.get(&blob_path(\"conformance/b\", &d2)).body == blob",
    );
    // And the blob can be pushed again after deletion.
    push_blob(&c, REPO, &blob);
    assert_bytes(
        &c.get(&blob_path(REPO, &d)).body,
        &blob,
        "c.get(&blob_path(REPO, &d)).body == blob",
    );
}

#[test]
fn delete_referrer_removes_it_from_the_list() {
    let reg = Registry::start();
    let c = reg.client();
    let (sb, s) = push_image(&c, REPO, "subject", 64, 1);
    push_blob(&c, REPO, EMPTY_JSON);
    let empty = Desc::of(MT_EMPTY, EMPTY_JSON);
    let r1 = image_manifest(
        &empty,
        std::slice::from_ref(&empty),
        json!({"artifactType": "application/x-one", "subject": Desc::of(MT_MANIFEST, &sb).json()}),
    );
    let r2 = image_manifest(
        &empty,
        std::slice::from_ref(&empty),
        json!({"artifactType": "application/x-two", "subject": Desc::of(MT_MANIFEST, &sb).json()}),
    );
    for r in [&r1, &r2] {
        assert_eq!(
            put_manifest(&c, REPO, &sha256(r), MT_MANIFEST, r).status,
            201
        );
    }
    let count = || {
        c.get(&format!("/v2/{REPO}/referrers/{s}")).json()["manifests"]
            .as_array()
            .map_or(0, |a| a.len())
    };
    assert_eq!(count(), 2);
    assert_eq!(c.delete(&manifest_path(REPO, &sha256(&r1))).status, 202);
    assert_eq!(count(), 1);
}

#[test]
fn delete_in_unknown_repository_is_404() {
    let reg = Registry::start();
    let c = reg.client();
    assert_eq!(c.delete(&manifest_path("no/such", "latest")).status, 404);
    assert_eq!(c.delete(&manifest_path("no/such", DUMMY)).status, 404);
    assert_eq!(c.delete(&blob_path("no/such", DUMMY)).status, 404);
}
