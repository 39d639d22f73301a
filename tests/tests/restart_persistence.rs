//! Everything the API acknowledged survives a restart (here a clean `kill -9` between
//! requests; `crash_kill9.rs` kills in the middle of them): blobs and their per-repository
//! links, tags, manifests with their media types, the referrers index, and upload sessions,
//! which resume where they stopped.

use pqreg_tests::oci::*;
use pqreg_tests::{Registry, with_query};
use serde_json::json;

#[test]
fn state_survives_restart() {
    let mut reg = Registry::start();
    let c = reg.client();
    let (m, md) = push_image(&c, "persist/a", "v1", 70, 2);
    push_blob(&c, "persist/a", EMPTY_JSON);
    let referrer = image_manifest(
        &Desc::of(MT_EMPTY, EMPTY_JSON),
        std::slice::from_ref(&Desc::of(MT_EMPTY, EMPTY_JSON)),
        json!({"artifactType": "application/x-sig", "subject": Desc::of(MT_MANIFEST, &m).json()}),
    );
    let rd = sha256(&referrer);
    assert_eq!(
        put_manifest(&c, "persist/a", &rd, MT_MANIFEST, &referrer).status,
        201
    );
    let blob = random_bytes(71, 100_000);
    let loc = open_session(&c, "persist/a");
    let r = c.must(
        "PATCH",
        &loc,
        &[("Content-Range", "0-59999")],
        &blob[..60_000],
    );
    assert_eq!(r.status, 202);
    let only_a = push_blob(&c, "persist/a", b"only in a");

    reg.restart();
    let c = reg.client();
    let r = get_manifest(&c, "persist/a", "v1");
    assert_eq!(r.status, 200);
    assert_bytes(&r.body, &m, "r.body == m");
    assert_eq!(r.header("Content-Type"), Some(MT_MANIFEST));
    assert_eq!(get_manifest(&c, "persist/a", &md).status, 200);
    let list = c.get(&format!("/v2/persist/a/referrers/{md}")).json();
    assert_eq!(
        list["manifests"][0]["digest"],
        rd.as_str(),
        "referrers index survives"
    );
    assert_bytes(
        &c.get(&blob_path("persist/a", &only_a)).body,
        b"only in a",
        "c.get(&blob_path(\"persist/a\", &only_a)).body == b\"only in a\"",
    );
    assert_eq!(
        c.head(&blob_path("persist/b", &only_a)).status,
        404,
        "links survive as links"
    );

    let r = c.get(&loc);
    assert_eq!(r.status, 204, "upload session survives: {}", r.text());
    assert_eq!(r.header("Range"), Some("0-59999"));
    let r = c.must(
        "PATCH",
        &loc,
        &[("Content-Range", "60000-99999")],
        &blob[60_000..],
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let r = c.must("PUT", &with_query(&loc, "digest", &sha256(&blob)), &[], b"");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_bytes(
        &c.get(&blob_path("persist/a", &sha256(&blob))).body,
        &blob,
        "c.get(&blob_path(\"persist/a\", &sha256(&blob))).body == blob",
    );
}
