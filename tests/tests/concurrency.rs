//! Concurrent clients (distribution-spec "Layer Upload De-duplication": both uploads of the
//! same blob proceed and one copy is stored): the same blob uploaded by eight clients at
//! once, eight different manifests pushed to one tag at once, and reads racing the writes.

use pqreg_tests::Registry;
use pqreg_tests::oci::*;
use pqreg_tests::with_query;
use serde_json::json;

#[test]
fn same_blob_uploaded_concurrently() {
    let reg = Registry::start();
    let c = reg.client();
    let blob = random_bytes(100, 2 << 20);
    let d = sha256(&blob);
    std::thread::scope(|s| {
        for i in 0..8 {
            let (blob, d) = (&blob, &d);
            s.spawn(move || {
                let loc = open_session(&c, "conc/repo");
                let mut loc = loc;
                for (k, part) in blob.chunks(256 << 10).enumerate() {
                    let start = k * (256 << 10);
                    let cr = format!("{start}-{}", start + part.len() - 1);
                    let r = c.must("PATCH", &loc, &[("Content-Range", &cr)], part);
                    assert_eq!(r.status, 202, "client {i}: {}", r.text());
                    loc = r.location().unwrap_or(loc);
                }
                let r = c.must("PUT", &with_query(&loc, "digest", d), &[], b"");
                assert_eq!(r.status, 201, "client {i}: {}", r.text());
                // Reads racing other clients' commits see the whole blob or nothing.
                let g = c.get(&blob_path("conc/repo", d));
                assert_eq!(g.status, 200);
                assert_bytes(&g.body, blob, "blob read during concurrent commits");
            });
        }
    });
    assert_bytes(
        &c.get(&blob_path("conc/repo", &d)).body,
        &blob,
        "blob after 8 uploads",
    );
}

#[test]
fn one_tag_pushed_concurrently() {
    let reg = Registry::start();
    let c = reg.client();
    push_blob(&c, "conc/tags", EMPTY_JSON);
    let manifests: Vec<Vec<u8>> = (0..8)
        .map(|i| {
            image_manifest(
                &Desc::of(MT_CONFIG, EMPTY_JSON),
                &[],
                json!({"annotations": {"writer": i.to_string()}}),
            )
        })
        .collect();
    let all = &manifests;
    std::thread::scope(|s| {
        for m in all {
            s.spawn(move || {
                let r = put_manifest(&c, "conc/tags", "latest", MT_MANIFEST, m);
                assert_eq!(r.status, 201, "{}", r.text());
                let g = get_manifest(&c, "conc/tags", "latest");
                assert_eq!(g.status, 200);
                assert!(
                    manifests_contains(all, &g.body),
                    "tag points at a torn manifest"
                );
            });
        }
    });
    let g = get_manifest(&c, "conc/tags", "latest");
    assert!(manifests_contains(&manifests, &g.body));
    assert_eq!(
        g.header("Docker-Content-Digest"),
        Some(sha256(&g.body).as_str())
    );
    for m in &manifests {
        assert_eq!(
            get_manifest(&c, "conc/tags", &sha256(m)).status,
            200,
            "every pushed manifest kept by digest"
        );
    }
}

fn manifests_contains(all: &[Vec<u8>], got: &[u8]) -> bool {
    all.iter().any(|m| m == got)
}
