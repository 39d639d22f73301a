//! Manifests, tags, referrers, catalog and the operational endpoints over real HTTP
//! (OCI distribution-spec v1.1 "Pushing manifests", "Pulling manifests",
//! "Content discovery", "Content management").

use crate::common::*;
use pqreg_spec::Digest;
use serde_json::json;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[test]
fn push_pull_delete_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let (a, base) = (agent(), reg.url());
    let repo = "team/model";
    push_blob(&a, &base, repo, b"{}");
    push_blob(&a, &base, repo, b"layer-1");
    let m = image_manifest(b"{}", &[b"layer-1"], None);
    let md = Digest::sha256(&m);

    let r = put_manifest(&a, &base, repo, "v1", &m);
    assert_eq!(r.status(), 201);
    assert_eq!(hdr(&r, "Docker-Content-Digest").unwrap(), md.to_string());
    assert_eq!(
        hdr(&r, "Location").unwrap(),
        format!("/v2/{repo}/manifests/{md}")
    );
    assert!(hdr(&r, "OCI-Subject").is_none());

    for reference in ["v1".to_owned(), md.to_string()] {
        let mut r = a
            .get(format!("{base}/v2/{repo}/manifests/{reference}"))
            .call()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(hdr(&r, "Content-Type").unwrap(), OCI_MANIFEST);
        assert_eq!(hdr(&r, "Docker-Content-Digest").unwrap(), md.to_string());
        assert_eq!(body(&mut r), m, "bytes as pushed");
        let r = a
            .head(format!("{base}/v2/{repo}/manifests/{reference}"))
            .call()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(hdr(&r, "Content-Length").unwrap(), m.len().to_string());
    }
    // Accept negotiation.
    let r = a
        .get(format!("{base}/v2/{repo}/manifests/v1"))
        .header("Accept", &format!("{OCI_INDEX}, {OCI_MANIFEST};q=0.9"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut r = a
        .get(format!("{base}/v2/{repo}/manifests/v1"))
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .call()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(err_code(&mut r), "MANIFEST_UNKNOWN");

    // Push by digest; a digest that does not match the body.
    let r = put_manifest(&a, &base, repo, &md.to_string(), &m);
    assert_eq!(r.status(), 201);
    let mut r = put_manifest(&a, &base, repo, &Digest::sha256(b"x").to_string(), &m);
    assert_eq!(r.status(), 400);
    assert_eq!(err_code(&mut r), "DIGEST_INVALID");

    // Delete the tag, then the manifest.
    put_manifest(&a, &base, repo, "v2", &m);
    let r = a
        .delete(format!("{base}/v2/{repo}/manifests/v1"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = a
        .get(format!("{base}/v2/{repo}/manifests/v1"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = a
        .get(format!("{base}/v2/{repo}/manifests/v2"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = a
        .delete(format!("{base}/v2/{repo}/manifests/{md}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut r = a
        .get(format!("{base}/v2/{repo}/manifests/v2"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 404, "tags on a deleted manifest go with it");
    assert_eq!(err_code(&mut r), "MANIFEST_UNKNOWN");
    let r = a
        .delete(format!("{base}/v2/{repo}/manifests/{md}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn manifest_errors() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |c| c.max_manifest_bytes = 1000);
    let (a, base) = (agent(), reg.url());
    push_blob(&a, &base, "e", b"{}");
    // A layer that was never pushed.
    let m = image_manifest(b"{}", &[b"missing layer"], None);
    let mut r = put_manifest(&a, &base, "e", "t", &m);
    assert_eq!(r.status(), 400);
    let v = json_body(&mut r);
    assert_eq!(v["errors"][0]["code"], "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        v["errors"][0]["detail"]["digest"],
        Digest::sha256(b"missing layer").to_string()
    );
    // A blob pushed to another repository does not count.
    push_blob(&a, &base, "elsewhere", b"layer");
    let m = image_manifest(b"{}", &[b"layer"], None);
    assert_eq!(put_manifest(&a, &base, "e", "t", &m).status(), 400);
    // Malformed bodies.
    for bad in [&b"not json"[..], b"[]", br#"{"config": 1, "layers": []}"#] {
        let mut r = put_manifest(&a, &base, "e", "t", bad);
        assert_eq!(r.status(), 400);
        assert_eq!(err_code(&mut r), "MANIFEST_INVALID");
    }
    // Too large: 413.
    let big = json!({"schemaVersion": 2, "annotations": {"x": "y".repeat(2000)}}).to_string();
    let mut r = put_manifest(&a, &base, "e", "t", big.as_bytes());
    assert_eq!(r.status(), 413);
    assert_eq!(err_code(&mut r), "MANIFEST_INVALID");
    // Bad references.
    let mut r = put_manifest(&a, &base, "e", "-bad", b"{}");
    assert_eq!(r.status(), 400);
    assert_eq!(err_code(&mut r), "MANIFEST_INVALID");
    // GET of a reference that is neither a tag nor a digest names nothing: 404 (the OCI
    // conformance suite asks for it; spec/api.md "Manifests").
    let mut r = a
        .get(format!("{base}/v2/e/manifests/sha256:1234"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(err_code(&mut r), "MANIFEST_UNKNOWN");
    let r = a
        .get(format!("{base}/v2/e/manifests/nosuchtag"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 404);
    // An index whose child is missing.
    let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, b"child")]});
    let mut r = a
        .put(format!("{base}/v2/e/manifests/idx"))
        .header("Content-Type", OCI_INDEX)
        .send(idx.to_string().as_bytes())
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(err_code(&mut r), "MANIFEST_BLOB_UNKNOWN");
}

#[test]
fn index_tags_and_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let (a, base) = (agent(), reg.url());
    push_blob(&a, &base, "p", b"{}");
    let child = image_manifest(b"{}", &[], None);
    put_manifest(&a, &base, "p", &Digest::sha256(&child).to_string(), &child);
    let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": Digest::sha256(&child).to_string(), "size": child.len()}]});
    let r = a
        .put(format!("{base}/v2/p/manifests/multi"))
        .header("Content-Type", OCI_INDEX)
        .send(idx.to_string().as_bytes())
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = a
        .get(format!("{base}/v2/p/manifests/multi"))
        .call()
        .unwrap();
    assert_eq!(hdr(&r, "Content-Type").unwrap(), OCI_INDEX);

    for t in ["b", "a", "c", "e", "d"] {
        assert_eq!(put_manifest(&a, &base, "p", t, &child).status(), 201);
    }
    let mut r = a.get(format!("{base}/v2/p/tags/list")).call().unwrap();
    assert_eq!(
        json_body(&mut r),
        json!({"name": "p", "tags": ["a", "b", "c", "d", "e", "multi"]})
    );
    let mut r = a.get(format!("{base}/v2/p/tags/list?n=2")).call().unwrap();
    assert_eq!(
        hdr(&r, "Link").unwrap(),
        "</v2/p/tags/list?n=2&last=b>; rel=\"next\""
    );
    assert_eq!(json_body(&mut r)["tags"], json!(["a", "b"]));
    let mut r = a
        .get(format!("{base}/v2/p/tags/list?n=2&last=b"))
        .call()
        .unwrap();
    assert_eq!(json_body(&mut r)["tags"], json!(["c", "d"]));
    let mut r = a
        .get(format!("{base}/v2/p/tags/list?last=d"))
        .call()
        .unwrap();
    assert!(hdr(&r, "Link").is_none());
    assert_eq!(json_body(&mut r)["tags"], json!(["e", "multi"]));
    let mut r = a.get(format!("{base}/v2/p/tags/list?n=0")).call().unwrap();
    assert!(hdr(&r, "Link").is_none());
    assert_eq!(json_body(&mut r)["tags"], json!([]));
    let mut r = a.get(format!("{base}/v2/p/tags/list?n=zz")).call().unwrap();
    assert_eq!(r.status(), 400);
    let _ = body(&mut r);
    let mut r = a.get(format!("{base}/v2/nope/tags/list")).call().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(err_code(&mut r), "NAME_UNKNOWN");

    push_blob(&a, &base, "a/b", b"x");
    push_blob(&a, &base, "z", b"x");
    let mut r = a.get(format!("{base}/v2/_catalog")).call().unwrap();
    assert_eq!(
        json_body(&mut r),
        json!({"repositories": ["a/b", "p", "z"]})
    );
    let mut r = a
        .get(format!("{base}/v2/_catalog?n=1&last=a/b"))
        .call()
        .unwrap();
    assert_eq!(
        hdr(&r, "Link").unwrap(),
        "</v2/_catalog?n=1&last=p>; rel=\"next\""
    );
    assert_eq!(json_body(&mut r), json!({"repositories": ["p"]}));
}

#[test]
fn referrers() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let (a, base) = (agent(), reg.url());
    push_blob(&a, &base, "r", b"{}");
    let subject = image_manifest(b"{}", &[], None);
    let sd = Digest::sha256(&subject);
    // The referrer may be pushed before its subject.
    let sig = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.pqreg.signature.v1",
        "config": descriptor("application/vnd.oci.empty.v1+json", b"{}"),
        "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": sd.to_string(), "size": subject.len()},
        "annotations": {"org.example.k": "v"},
    })
    .to_string();
    let r = put_manifest(
        &a,
        &base,
        "r",
        &Digest::sha256(sig.as_bytes()).to_string(),
        sig.as_bytes(),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(hdr(&r, "OCI-Subject").unwrap(), sd.to_string());
    put_manifest(&a, &base, "r", "v1", &subject);
    // A referrer without artifactType takes its config's media type.
    let sbom = image_manifest(b"{}", &[], Some(&subject));
    put_manifest(&a, &base, "r", &Digest::sha256(&sbom).to_string(), &sbom);

    let mut r = a.get(format!("{base}/v2/r/referrers/{sd}")).call().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(hdr(&r, "Content-Type").unwrap(), OCI_INDEX);
    assert!(hdr(&r, "OCI-Filters-Applied").is_none());
    let v = json_body(&mut r);
    assert_eq!(v["mediaType"], OCI_INDEX);
    assert_eq!(v["schemaVersion"], 2);
    let list = v["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let sig_entry = list
        .iter()
        .find(|d| d["digest"] == Digest::sha256(sig.as_bytes()).to_string())
        .unwrap();
    assert_eq!(
        sig_entry["artifactType"],
        "application/vnd.pqreg.signature.v1"
    );
    assert_eq!(sig_entry["annotations"]["org.example.k"], "v");
    assert_eq!(sig_entry["size"], sig.len());
    let sbom_entry = list
        .iter()
        .find(|d| d["digest"] == Digest::sha256(&sbom).to_string())
        .unwrap();
    assert_eq!(
        sbom_entry["artifactType"],
        "application/vnd.oci.image.config.v1+json"
    );

    let mut r = a
        .get(format!(
            "{base}/v2/r/referrers/{sd}?artifactType=application/vnd.pqreg.signature.v1"
        ))
        .call()
        .unwrap();
    assert_eq!(hdr(&r, "OCI-Filters-Applied").unwrap(), "artifactType");
    assert_eq!(json_body(&mut r)["manifests"].as_array().unwrap().len(), 1);

    // Unknown subject or repository: 200 with an empty index; bad digest: 400.
    let mut r = a
        .get(format!("{base}/v2/none/referrers/{}", Digest::sha256(b"q")))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json_body(&mut r)["manifests"], json!([]));
    let r = a
        .get(format!("{base}/v2/r/referrers/sha256:xyz"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 400);

    // Deleting the referrer removes it from the list.
    let r = a
        .delete(format!(
            "{base}/v2/r/manifests/{}",
            Digest::sha256(sig.as_bytes())
        ))
        .call()
        .unwrap();
    assert_eq!(r.status(), 202);
    let mut r = a.get(format!("{base}/v2/r/referrers/{sd}")).call().unwrap();
    assert_eq!(json_body(&mut r)["manifests"].as_array().unwrap().len(), 1);
}

#[test]
fn read_only_and_ops_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    {
        let reg = start(dir.path(), |_| {});
        push_blob(&agent(), &reg.url(), "ro", b"kept");
    }
    let reg = start(dir.path(), |c| c.read_only = true);
    let (a, base) = (agent(), reg.url());
    let d = Digest::sha256(b"kept");
    let r = a.get(format!("{base}/v2/ro/blobs/{d}")).call().unwrap();
    assert_eq!(r.status(), 200, "reads still work");
    let mut r = a
        .post(format!("{base}/v2/ro/blobs/uploads/"))
        .send_empty()
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(err_code(&mut r), "UNSUPPORTED");
    let r = a.delete(format!("{base}/v2/ro/blobs/{d}")).call().unwrap();
    assert_eq!(r.status(), 405);
    let r = put_manifest(&a, &base, "ro", "t", b"{}");
    assert_eq!(r.status(), 405);

    let mut r = a.get(format!("{base}/livez")).call().unwrap();
    assert_eq!(r.status(), 200);
    let _ = body(&mut r);
    let r = a.get(format!("{base}/readyz")).call().unwrap();
    assert_eq!(r.status(), 200);
    let mut r = a.get(format!("{base}/metrics")).call().unwrap();
    assert_eq!(r.status(), 200);
    let text = String::from_utf8(body(&mut r)).unwrap();
    assert!(text.contains("pqreg_store_blobs 1"), "{text}");
    assert!(text.contains("pqreg_store_bytes 4"), "{text}");
    assert!(
        text.contains(r#"pqreg_http_requests_total{method="GET",route="/v2/{name:.+}/blobs/{digest}",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains("pqreg_http_request_duration_seconds_bucket"));
}
