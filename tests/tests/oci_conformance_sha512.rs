//! SHA-512 blob digests (distribution-spec v1.1: a registry SHOULD accept `sha512`; the
//! upstream conformance suite's `OCI_DATA_SHA512` cases push, pull, mount and delete blobs
//! with them). Pinned here: monolithic and chunked pushes, HEAD/GET with `Range`, a digest
//! mismatch, a malformed digest, a cross-repository mount, a delete, and the same bytes
//! under both algorithms being two blobs. Manifests addressed by SHA-512 are not accepted
//! yet (spec/api.md, "Grammar and limits", Digest).

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
