//! Conformance: what the upstream OCI conformance suite checks (the Go module
//! `github.com/opencontainers/distribution-spec/conformance`, run by
//! `tests/conformance/run.sh`) that the other `oci_conformance_*` files do not. Read from
//! its `run.go` and `api.go` (repository opencontainers/distribution-spec, directory
//! `conformance/`); kept here so CI checks these cases even where the suite cannot be
//! fetched: an out-of-order last chunk sent with `PUT`, request bodies without
//! `Content-Length` (Go's client streams manifests and `PATCH` bodies chunked), the
//! manifest shapes of its data tests, digests that do not match, and the empty blob.

use std::io::Write;

use pqreg_tests::oci::*;
use pqreg_tests::{Client, Registry, Response, with_query};
use serde_json::{Value, json};

const REPO: &str = "conformance/upstream";
const OCTET: (&str, &str) = ("Content-Type", "application/octet-stream");

/// Sends `body` with `Transfer-Encoding: chunked` (no `Content-Length`), in pieces of
/// `piece` bytes, as Go's `net/http` does for a body of unknown length.
fn send_chunked(
    c: &Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut h = headers.to_vec();
    h.push(("Transfer-Encoding", "chunked"));
    let mut s = c.start(method, path, &h, None).expect("connect");
    for piece in body.chunks(700) {
        write!(s, "{:x}\r\n", piece.len()).expect("write chunk size");
        s.write_all(piece).expect("write chunk");
        s.write_all(b"\r\n").expect("write chunk end");
    }
    s.write_all(b"0\r\n\r\n").expect("write last chunk");
    pqreg_tests::http::read_response(s, false).expect("read response")
}

fn chunk(c: &Client, method: &str, loc: &str, start: usize, body: &[u8]) -> Response {
    let cr = format!("{start}-{}", start + body.len() - 1);
    c.must(method, loc, &[OCTET, ("Content-Range", &cr)], body)
}

/// The suite's "chunked out-of-order and put chunk" case: 3 chunks of 1024 bytes, each
/// preceded by a chunk that skips ahead (or back); the skipping one is the last chunk sent
/// with `PUT ?digest=` once. Every skip is 416, the session's `GET` status still says
/// where it is, and the upload then completes.
#[test]
fn out_of_order_chunks_including_a_put_are_416_and_the_session_survives() {
    let reg = Registry::start();
    let c = reg.client();
    let blob = random_bytes(31, 3 * 1024 - 5);
    let d = sha256(&blob);
    let loc = open_session(&c, REPO);
    let put_loc = with_query(&loc, "digest", &d);
    let status_range = |want: &str| {
        let r = c.get(&loc);
        assert_eq!(r.status, 204, "GET session: {}", r.text());
        assert!(r.location().is_some(), "GET session has Location");
        assert_eq!(r.header("Range"), Some(want), "GET session Range");
    };

    let r = chunk(&c, "PATCH", &loc, 1024, &blob[1024..2048]);
    assert_eq!(r.status, 416, "first chunk at 1024: {}", r.text());
    status_range("0-0");
    assert_eq!(chunk(&c, "PATCH", &loc, 0, &blob[..1024]).status, 202);

    let r = chunk(&c, "PUT", &put_loc, 2048, &blob[2048..]);
    assert_eq!(
        r.status,
        416,
        "last chunk by PUT leaving a gap: {}",
        r.text()
    );
    status_range("0-1023");
    assert_eq!(
        chunk(&c, "PATCH", &loc, 1024, &blob[1024..2048]).status,
        202
    );

    let r = chunk(&c, "PATCH", &loc, 0, &blob[..1024]);
    assert_eq!(r.status, 416, "chunk going back to 0: {}", r.text());
    status_range("0-2047");
    let r = chunk(&c, "PUT", &put_loc, 2048, &blob[2048..]);
    assert_eq!(r.status, 201, "{}", r.text());
    let blob_loc = r.location().expect("201 has Location");
    assert_bytes(&c.get(&blob_loc).body, &blob, "GET Location of the blob");
}

/// Go's client sends a streamed `PATCH` and a manifest `PUT` without `Content-Length`.
#[test]
fn bodies_without_content_length_are_accepted() {
    let reg = Registry::start();
    let c = reg.client();
    let blob = random_bytes(32, 5000);
    let d = sha256(&blob);
    let loc = open_session(&c, REPO);
    let r = send_chunked(&c, "PATCH", &loc, &[OCTET], &blob);
    assert_eq!(r.status, 202, "chunked PATCH: {}", r.text());
    assert_eq!(r.header("Range"), Some("0-4999"));
    let next = r.location().expect("202 has Location");
    let r = c.must("PUT", &with_query(&next, "digest", &d), &[OCTET], b"");
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.location().is_some(), "201 has Location");

    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    push_blob(&c, REPO, config);
    let m = image_manifest(
        &Desc::of(MT_CONFIG, config),
        &[Desc::of(MT_LAYER, &blob)],
        json!({}),
    );
    let r = send_chunked(
        &c,
        "PUT",
        &manifest_path(REPO, "chunked"),
        &[("Content-Type", MT_MANIFEST)],
        &m,
    );
    assert_eq!(r.status, 201, "chunked manifest PUT: {}", r.text());
    assert_eq!(r.header("Docker-Content-Digest"), Some(sha256(&m).as_str()));
    let loc = r.location().expect("201 has Location");
    let got = c.get_with(&loc, &[("Accept", ACCEPT_MANIFESTS)]);
    assert_eq!(got.status, 200);
    assert_bytes(&got.body, &m, "GET Location of the manifest");
}

/// Pushes `body` by tag, then checks what the suite checks of every manifest: 201 with a
/// `Location` that serves the same bytes, `Content-Type` and `Content-Length`; HEAD by tag.
fn push_and_check(c: &Client, tag: &str, body: &Value) -> String {
    let bytes = serde_json::to_vec(body).expect("serialize");
    let mt = body["mediaType"].as_str().expect("mediaType");
    let r = put_manifest(c, REPO, tag, mt, &bytes);
    assert_eq!(r.status, 201, "PUT {tag}: {}", r.text());
    let loc = r.location().expect("201 has Location");
    let got = c.get_with(&loc, &[("Accept", ACCEPT_MANIFESTS)]);
    assert_eq!(got.status, 200, "GET {loc}");
    assert_eq!(got.header("Content-Type"), Some(mt), "{tag}");
    assert_bytes(&got.body, &bytes, tag);
    let len = bytes.len().to_string();
    let h = c.head(&manifest_path(REPO, tag));
    assert_eq!(h.status, 200, "HEAD {tag}");
    assert_eq!(h.header("Content-Length"), Some(len.as_str()), "{tag}");
    sha256(&bytes)
}

/// The suite's data tests: an image without layers, non-distributable layers that were
/// never pushed, an artifact whose config descriptor carries `data` and whose manifest has a
/// field no spec defines, an empty index, an index of indexes, a referrer of a subject that
/// does not exist.
#[test]
fn manifest_shapes_of_the_upstream_data_tests() {
    let reg = Registry::start();
    let c = reg.client();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    push_blob(&c, REPO, config);
    push_blob(&c, REPO, EMPTY_JSON);
    let cfg = Desc::of(MT_CONFIG, config).json();
    let layer = random_bytes(33, 300);
    push_blob(&c, REPO, &layer);

    let mut no_layers =
        json!({"schemaVersion": 2, "mediaType": MT_MANIFEST, "config": cfg, "layers": []});
    let image = push_and_check(&c, "no-layers", &no_layers);

    let foreign = sha256(b"never pushed: non-distributable");
    no_layers["layers"] = json!([
        {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
         "digest": foreign, "size": 123456,
         "urls": [format!("https://store.example.com/blobs/sha256/{}", &foreign[7..])]},
        Desc::of(MT_LAYER, &layer).json(),
    ]);
    push_and_check(&c, "non-distributable-image", &no_layers);

    let artifact = json!({
        "schemaVersion": 2, "mediaType": MT_MANIFEST,
        "artifactType": "application/vnd.example.conf1",
        "config": {"mediaType": MT_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2, "data": "e30="},
        "layers": [{"mediaType": "application/vnd.example.conf1", "digest": sha256(&layer), "size": layer.len()}],
        "x-conformance-custom": {"n": 1},
    });
    push_and_check(&c, "data-field", &artifact);

    let empty = json!({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": []});
    push_and_check(&c, "empty-index", &empty);
    let platform = |arch| json!({"os": "linux", "architecture": arch});
    let size = |tag| {
        c.head(&manifest_path(REPO, tag))
            .header("Content-Length")
            .map(str::to_owned)
    };
    let child = json!({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
        {"mediaType": MT_MANIFEST, "digest": image, "size": size("no-layers").and_then(|s| s.parse::<u64>().ok()), "platform": platform("amd64")},
    ]});
    let child_digest = push_and_check(&c, "index", &child);
    let outer = json!({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
        {"mediaType": MT_INDEX, "digest": child_digest, "size": size("index").and_then(|s| s.parse::<u64>().ok())},
    ]});
    push_and_check(&c, "index-of-index", &outer);

    let missing = sha256(b"missing content");
    let mut referrer = artifact.clone();
    referrer["subject"] = json!({"mediaType": MT_MANIFEST, "digest": missing, "size": 123});
    let bytes = serde_json::to_vec(&referrer).expect("serialize");
    let r = put_manifest(&c, REPO, "tagged-artifact", MT_MANIFEST, &bytes);
    assert_eq!(r.status, 201, "referrer of a missing subject: {}", r.text());
    assert_eq!(r.header("OCI-Subject"), Some(missing.as_str()));
    let list = c.get(&format!("/v2/{REPO}/referrers/{missing}"));
    assert_eq!(list.header("Content-Type"), Some(MT_INDEX));
    let list = list.json();
    assert_eq!(list["manifests"][0]["digest"], json!(sha256(&bytes)));
    assert_eq!(
        list["manifests"][0]["artifactType"],
        json!("application/vnd.example.conf1")
    );
}

/// A manifest sent under a digest it does not have (the suite appends two spaces), or under
/// a malformed digest, is 400 `DIGEST_INVALID`; `GET` of the malformed one is 400 or 404.
#[test]
fn manifest_digest_mismatch_and_malformed_digest_are_400() {
    let reg = Registry::start();
    let c = reg.client();
    let (m, d) = push_image(&c, REPO, "image", 34, 1);
    let mut spaced = m.clone();
    spaced.extend_from_slice(b"  ");
    let r = put_manifest(&c, REPO, &d, MT_MANIFEST, &spaced);
    assert_error(&r, 400, Some("DIGEST_INVALID"));
    let r = put_manifest(&c, REPO, "sha256:baddigeststring", MT_MANIFEST, &m);
    assert_error(&r, 400, Some("DIGEST_INVALID"));
    let r = get_manifest(&c, REPO, "sha256:baddigeststring");
    assert!(
        r.status == 400 || r.status == 404,
        "GET bad digest: {}",
        r.status
    );
}

/// The zero-byte blob: pushed in one POST, HEAD and GET give length 0, DELETE removes it.
#[test]
fn empty_blob_round_trips_and_deletes() {
    let reg = Registry::start();
    let c = reg.client();
    let d = sha256(b"");
    let r = c.must(
        "POST",
        &with_query(&uploads_path(REPO), "digest", &d),
        &[OCTET],
        b"",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.location().is_some(), "201 has Location");
    let p = blob_path(REPO, &d);
    let h = c.head(&p);
    assert_eq!((h.status, h.header("Content-Length")), (200, Some("0")));
    assert_eq!(h.header("Docker-Content-Digest"), Some(d.as_str()));
    let g = c.get(&p);
    assert_eq!((g.status, g.body.len()), (200, 0));
    assert_eq!(c.delete(&p).status, 202);
    assert_eq!(c.head(&p).status, 404, "HEAD after DELETE");
}
