//! Blob push and pull over real HTTP: monolithic, chunked, mount, ranges, deletes, and
//! their error cases (OCI distribution-spec v1.1 "Pushing blobs", "Pulling blobs").

use crate::common::*;
use pqreg_spec::Digest;

#[test]
fn base_and_monolithic_push_pull() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let (a, base) = (agent(), reg.url());
    let mut r = a.get(format!("{base}/v2/")).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        hdr(&r, "Docker-Distribution-API-Version").as_deref(),
        Some("registry/2.0")
    );
    assert_eq!(body(&mut r), b"{}");

    let data = b"hello blob".repeat(1000);
    let d = Digest::sha256(&data);
    let r = a
        .post(format!("{base}/v2/lib/app/blobs/uploads/?digest={d}"))
        .send(&data[..])
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        hdr(&r, "Location").unwrap(),
        format!("/v2/lib/app/blobs/{d}")
    );
    assert_eq!(hdr(&r, "Docker-Content-Digest").unwrap(), d.to_string());

    let mut r = a
        .get(format!("{base}/v2/lib/app/blobs/{d}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(hdr(&r, "Docker-Content-Digest").unwrap(), d.to_string());
    assert_eq!(hdr(&r, "Content-Length").unwrap(), data.len().to_string());
    assert_eq!(body(&mut r), data);

    let r = a
        .head(format!("{base}/v2/lib/app/blobs/{d}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(hdr(&r, "Content-Length").unwrap(), data.len().to_string());

    // Another repository does not see it.
    let mut r = a.get(format!("{base}/v2/other/blobs/{d}")).call().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(err_code(&mut r), "BLOB_UNKNOWN");
    let r = a.head(format!("{base}/v2/other/blobs/{d}")).call().unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn ranges() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let (a, base) = (agent(), reg.url());
    let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let d = push_blob(&a, &base, "r", &data);
    let url = format!("{base}/v2/r/blobs/{d}");
    let mut r = a.get(&url).header("Range", "bytes=10-19").call().unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(hdr(&r, "Content-Range").unwrap(), "bytes 10-19/5000");
    assert_eq!(body(&mut r), &data[10..20]);
    let mut r = a.get(&url).header("Range", "bytes=4990-").call().unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(body(&mut r), &data[4990..]);
    let mut r = a.get(&url).header("Range", "bytes=-5").call().unwrap();
    assert_eq!(body(&mut r), &data[4995..]);
    let r = a.get(&url).header("Range", "bytes=5000-").call().unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(hdr(&r, "Content-Range").unwrap(), "bytes */5000");
}

#[test]
fn chunked_upload_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let (a, base) = (agent(), reg.url());
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let d = Digest::sha256(&data);

    let r = a
        .post(format!("{base}/v2/c/d/blobs/uploads/"))
        .send_empty()
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = hdr(&r, "Location").unwrap();
    assert_eq!(hdr(&r, "Range").unwrap(), "0-0");
    let id = hdr(&r, "Docker-Upload-UUID").unwrap();
    assert!(loc.ends_with(&id));

    let chunks = [&data[..100_000], &data[100_000..250_000], &data[250_000..]];
    let mut off = 0usize;
    for c in &chunks[..2] {
        let r = a
            .patch(format!("{base}{loc}"))
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", &format!("{}-{}", off, off + c.len() - 1))
            .send(*c)
            .unwrap();
        assert_eq!(r.status(), 202);
        off += c.len();
        assert_eq!(hdr(&r, "Range").unwrap(), format!("0-{}", off - 1));
        assert_eq!(hdr(&r, "Docker-Upload-UUID").unwrap(), id);
    }
    // Out of order (overlapping) chunk: 416 with the session's range.
    let mut r = a
        .patch(format!("{base}{loc}"))
        .header("Content-Range", "10-19")
        .send(&[0u8; 10][..])
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(hdr(&r, "Range").unwrap(), "0-249999");
    assert_eq!(err_code(&mut r), "BLOB_UPLOAD_INVALID");
    // A gap is out of order too.
    let r = a
        .patch(format!("{base}{loc}"))
        .header("Content-Range", "260000-260009")
        .send(&[0u8; 10][..])
        .unwrap();
    assert_eq!(r.status(), 416);

    let r = a.get(format!("{base}{loc}")).call().unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(hdr(&r, "Range").unwrap(), "0-249999");

    // Close with the final chunk.
    let r = a
        .put(format!("{base}{loc}?digest={d}"))
        .header("Content-Range", &format!("250000-{}", data.len() - 1))
        .send(chunks[2])
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(hdr(&r, "Location").unwrap(), format!("/v2/c/d/blobs/{d}"));
    let mut r = a.get(format!("{base}/v2/c/d/blobs/{d}")).call().unwrap();
    assert_eq!(body(&mut r), data);
    // The session is gone.
    let mut r = a.get(format!("{base}{loc}")).call().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(err_code(&mut r), "BLOB_UPLOAD_UNKNOWN");
}

#[test]
fn streamed_patch_then_put_and_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let (a, base) = (agent(), reg.url());
    let r = a
        .post(format!("{base}/v2/s/blobs/uploads/"))
        .send_empty()
        .unwrap();
    let loc = hdr(&r, "Location").unwrap();
    let r = a.patch(format!("{base}{loc}")).send(&b"abc"[..]).unwrap();
    assert_eq!(r.status(), 202);
    let r = a.patch(format!("{base}{loc}")).send(&b"def"[..]).unwrap();
    assert_eq!(hdr(&r, "Range").unwrap(), "0-5");
    let d = Digest::sha256(b"abcdef");
    let r = a
        .put(format!("{base}{loc}?digest={d}"))
        .send_empty()
        .unwrap();
    assert_eq!(r.status(), 201);

    // Cancel.
    let r = a
        .post(format!("{base}/v2/s/blobs/uploads/"))
        .send_empty()
        .unwrap();
    let loc = hdr(&r, "Location").unwrap();
    a.patch(format!("{base}{loc}")).send(&b"xyz"[..]).unwrap();
    let r = a.delete(format!("{base}{loc}")).call().unwrap();
    assert_eq!(r.status(), 204);
    let r = a.patch(format!("{base}{loc}")).send(&b"xyz"[..]).unwrap();
    assert_eq!(r.status(), 404);
    // A session is bound to its repository.
    let r = a
        .post(format!("{base}/v2/s/blobs/uploads/"))
        .send_empty()
        .unwrap();
    let id = hdr(&r, "Docker-Upload-UUID").unwrap();
    let r = a
        .get(format!("{base}/v2/other/blobs/uploads/{id}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 404);
    // PUT without a digest.
    let mut r = a
        .put(format!("{base}/v2/s/blobs/uploads/{id}"))
        .send_empty()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(err_code(&mut r), "DIGEST_INVALID");
    // Malformed ids.
    for bad in ["x", "../../etc", "ABCDEF0123456789ABCDEF0123456789"] {
        let r = a
            .get(format!("{base}/v2/s/blobs/uploads/{bad}"))
            .call()
            .unwrap();
        assert_eq!(r.status(), 404, "{bad}");
    }
}

/// A digest mismatch answers DIGEST_INVALID and leaves no blob and no upload file.
#[test]
fn digest_mismatch_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let (a, base) = (agent(), reg.url());
    let wrong = Digest::sha256(b"something else");
    let mut r = a
        .post(format!("{base}/v2/m/blobs/uploads/?digest={wrong}"))
        .send(&b"the real content"[..])
        .unwrap();
    assert_eq!(r.status(), 400);
    let v = json_body(&mut r);
    assert_eq!(v["errors"][0]["code"], "DIGEST_INVALID");
    assert_eq!(
        v["errors"][0]["detail"]["actual"],
        Digest::sha256(b"the real content").to_string()
    );

    // Same through a session.
    let r = a
        .post(format!("{base}/v2/m/blobs/uploads/"))
        .send_empty()
        .unwrap();
    let loc = hdr(&r, "Location").unwrap();
    a.patch(format!("{base}{loc}")).send(&b"chunk"[..]).unwrap();
    let r = a
        .put(format!("{base}{loc}?digest={wrong}"))
        .send_empty()
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = a.get(format!("{base}{loc}")).call().unwrap();
    assert_eq!(r.status(), 404, "the session is gone");

    let files = files_under(dir.path());
    assert!(
        files
            .iter()
            .all(|f| !f.starts_with("blobs/") && !f.starts_with("uploads/")),
        "left behind: {files:?}"
    );
    let r = a.head(format!("{base}/v2/m/blobs/{wrong}")).call().unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn mount_and_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let (a, base) = (agent(), reg.url());
    let d = push_blob(&a, &base, "src/repo", b"shared layer");
    let r = a
        .post(format!(
            "{base}/v2/dst/blobs/uploads/?mount={d}&from=src/repo"
        ))
        .send_empty()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(hdr(&r, "Location").unwrap(), format!("/v2/dst/blobs/{d}"));
    let r = a.head(format!("{base}/v2/dst/blobs/{d}")).call().unwrap();
    assert_eq!(r.status(), 200);
    // Not in the source: a session instead.
    let other = Digest::sha256(b"nope");
    for q in [
        format!("mount={other}&from=src/repo"),
        format!("mount={d}&from=elsewhere"),
        format!("mount={d}"),
        format!("mount={d}&from=BAD..NAME"),
    ] {
        let r = a
            .post(format!("{base}/v2/dst2/blobs/uploads/?{q}"))
            .send_empty()
            .unwrap();
        assert_eq!(r.status(), 202, "{q}");
        assert!(
            hdr(&r, "Location")
                .unwrap()
                .starts_with("/v2/dst2/blobs/uploads/")
        );
    }
    let r = a.head(format!("{base}/v2/dst2/blobs/{d}")).call().unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn delete_blob_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let (a, base) = (agent(), reg.url());
    let d = push_blob(&a, &base, "del", b"bye");
    let r = a.delete(format!("{base}/v2/del/blobs/{d}")).call().unwrap();
    assert_eq!(r.status(), 202);
    let mut r = a.get(format!("{base}/v2/del/blobs/{d}")).call().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(err_code(&mut r), "BLOB_UNKNOWN");
    let r = a.delete(format!("{base}/v2/del/blobs/{d}")).call().unwrap();
    assert_eq!(r.status(), 404);

    let mut r = a
        .get(format!("{base}/v2/del/blobs/sha256:abc"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(err_code(&mut r), "DIGEST_INVALID");
    // sha512 is accepted (OCI: registries SHOULD); an unknown one is a 404, a malformed
    // one is still refused.
    let mut r = a
        .get(format!("{base}/v2/del/blobs/sha512:{}", "a".repeat(128)))
        .call()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(err_code(&mut r), "BLOB_UNKNOWN");
    let mut r = a
        .get(format!("{base}/v2/del/blobs/sha512:{}", "a".repeat(64)))
        .call()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(err_code(&mut r), "DIGEST_INVALID");
    for bad in ["UPPER", "a/../b", "a//b", "-a", "a%2F..%2Fb"] {
        let mut r = a.get(format!("{base}/v2/{bad}/blobs/{d}")).call().unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(err_code(&mut r), "NAME_INVALID", "{bad}");
    }
    let long = "a".repeat(256);
    let r = a.get(format!("{base}/v2/{long}/blobs/{d}")).call().unwrap();
    assert_eq!(r.status(), 400);
    let mut r = a
        .post(format!("{base}/v2/x/blobs/uploads/?digest=nope"))
        .send(&b"x"[..])
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(err_code(&mut r), "DIGEST_INVALID");
    // Wrong method on a known path, and an unknown path.
    let mut r = a
        .post(format!("{base}/v2/x/blobs/{d}"))
        .send_empty()
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(err_code(&mut r), "UNSUPPORTED");
    let r = a.get(format!("{base}/v3/")).call().unwrap();
    assert_eq!(r.status(), 404);
}

/// Malformed requests get a 4xx with a JSON error body, never a 5xx.
#[test]
fn bad_input_is_never_a_server_error() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let (a, base) = (agent(), reg.url());
    let d = Digest::sha256(b"x");
    let paths = [
        "/v2/a/manifests/".to_owned(),
        "/v2//blobs/uploads/".to_owned(),
        "/v2/a/blobs/".to_owned(),
        "/v2/a/blobs/uploads/%00".to_owned(),
        "/v2/a%00b/tags/list".to_owned(),
        "/v2/a/tags/list?n=-1".to_owned(),
        "/v2/a/tags/list?n=99999999999999999999999".to_owned(),
        "/v2/_catalog?n=x".to_owned(),
        format!("/v2/a/referrers/{d}?artifactType="),
        "/v2/a/referrers/sha256:".to_owned(),
        format!("/v2/a/blobs/{d}?x=%zz"),
        "/v2/a/manifests/..".to_owned(),
        format!("/v2/{}/manifests/t", "a/".repeat(200)),
        format!("/v2/a/manifests/{}", "t".repeat(300)),
        "/v2/a/blobs/uploads/?digest=sha256:%ZZ".to_owned(),
        "/v2/a/blobs/uploads/?mount=x&from=y".to_owned(),
    ];
    for p in &paths {
        for method in ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"] {
            let url = format!("{base}{p}");
            let r = match method {
                "GET" => a.get(&url).call(),
                "HEAD" => a.head(&url).call(),
                "PUT" => a.put(&url).send(&b"{}"[..]),
                "PATCH" => a.patch(&url).send(&b"zz"[..]),
                "POST" => a.post(&url).send(&b"zz"[..]),
                _ => a.delete(&url).call(),
            };
            let Ok(mut r) = r else { continue }; // the client refused to send it
            assert!(
                r.status().as_u16() < 500 && r.status().as_u16() >= 400
                    || r.status() == 200
                    || r.status() == 202,
                "{method} {p}: {}",
                r.status()
            );
            if method != "HEAD" && r.status().as_u16() >= 400 {
                let v: serde_json::Value = serde_json::from_slice(&body(&mut r)).unwrap();
                assert!(v["errors"][0]["code"].is_string(), "{method} {p}");
            }
        }
    }
}
