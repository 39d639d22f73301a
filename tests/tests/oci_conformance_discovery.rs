//! Conformance, category Content Discovery (distribution-spec v1.1 "Content Discovery";
//! modelled on what the upstream suite's `03_discovery_test.go` checks): tags list with
//! `n`/`last` pagination and `Link`, referrers with and without the `artifactType` filter,
//! `OCI-Subject` on push, and the catalog.

use pqreg_tests::oci::*;
use pqreg_tests::{Client, Registry, relative};
use serde_json::{Value, json};

const REPO: &str = "conformance/discovery";
const DUMMY: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
const TYPE_A: &str = "application/vnd.pqreg.test.type-a";
const TYPE_B: &str = "application/vnd.pqreg.test.type-b";

fn tags(r: &pqreg_tests::Response) -> Vec<String> {
    r.json()["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The target of a `Link: <url>; rel="next"` header.
fn next_link(r: &pqreg_tests::Response) -> Option<String> {
    let l = r.header("Link")?;
    assert!(l.contains("rel=\"next\""), "Link without rel=\"next\": {l}");
    let start = l.find('<')? + 1;
    let end = l.find('>')?;
    Some(relative(&l[start..end]))
}

#[test]
fn tags_list_sorted_and_paginated() {
    let reg = Registry::start();
    let c = reg.client();
    let (m, _) = push_image(&c, REPO, "v1", 30, 1);
    let mut expected = vec!["v1".to_owned()];
    for t in [
        "test3", "test0", "Zeta", "alpha", "test2", "test1", "1.0", "latest",
    ] {
        let r = put_manifest(&c, REPO, t, MT_MANIFEST, &m);
        assert_eq!(r.status, 201);
        expected.push(t.to_owned());
    }
    expected.sort();
    let r = c.get(&format!("/v2/{REPO}/tags/list"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], REPO);
    assert_eq!(tags(&r), expected, "all tags, in byte order");
    assert!(r.header("Link").is_none(), "no Link when everything fits");

    // n limits; Link leads on; following Links yields the whole list exactly once.
    let r = c.get(&format!("/v2/{REPO}/tags/list?n=4"));
    assert_eq!(r.status, 200);
    assert_eq!(tags(&r), expected[..4]);
    let mut all = tags(&r);
    let mut next = next_link(&r);
    let mut pages = 1;
    while let Some(p) = next {
        let r = c.get(&p);
        assert_eq!(r.status, 200, "GET {p}");
        let page = tags(&r);
        assert!(page.len() <= 4 && !page.is_empty(), "page {page:?}");
        all.extend(page);
        next = next_link(&r);
        pages += 1;
        assert!(pages < 10, "Link loop");
    }
    assert_eq!(all, expected);
    assert_eq!(pages, 3);

    // last is exclusive.
    let r = c.get(&format!("/v2/{REPO}/tags/list?n=2&last={}", expected[2]));
    assert_eq!(tags(&r), expected[3..5]);
    let r = c.get(&format!("/v2/{REPO}/tags/list?last={}", expected[6]));
    assert_eq!(tags(&r), expected[7..]);

    // n=0: empty, no Link.
    let r = c.get(&format!("/v2/{REPO}/tags/list?n=0"));
    assert_eq!(r.status, 200);
    assert!(tags(&r).is_empty());
    assert!(r.header("Link").is_none());

    // Malformed n.
    assert_eq!(c.get(&format!("/v2/{REPO}/tags/list?n=abc")).status, 400);
}

#[test]
fn tags_list_of_unknown_repository_is_404() {
    let reg = Registry::start();
    let r = reg.client().get("/v2/no/such/repo/tags/list");
    assert_error(&r, 404, Some("NAME_UNKNOWN"));
}

struct Referrers {
    subject: String,
    /// (digest, artifactType, annotation value) of each referrer of `subject`.
    expected: Vec<(String, String, String)>,
    orphan: String,
    missing_subject: String,
}

/// Pushes a subject image and referrers of several shapes; asserts `OCI-Subject` on each.
fn setup_referrers(c: &Client) -> Referrers {
    let (subject_bytes, subject) = push_image(c, REPO, "subject", 40, 1);
    let subject_desc = Desc::of(MT_MANIFEST, &subject_bytes);
    push_blob(c, REPO, EMPTY_JSON);
    let empty = Desc::of(MT_EMPTY, EMPTY_JSON);
    let mut expected = Vec::new();
    let mut put_ref = |body: Vec<u8>, media_type: &str, at: &str, note: &str, c: &Client| {
        let d = sha256(&body);
        let r = put_manifest(c, REPO, &d, media_type, &body);
        assert_eq!(r.status, 201, "referrer {note}: {}", r.text());
        assert_eq!(
            r.header("OCI-Subject"),
            Some(subject.as_str()),
            "OCI-Subject on {note}"
        );
        expected.push((d, at.to_owned(), note.to_owned()));
    };

    // 1. artifactType given by the config media type (no artifactType field).
    let cfg_a = br#"{"kind":"a-config"}"#;
    push_blob(c, REPO, cfg_a);
    let layer = random_bytes(41, 300);
    push_blob(c, REPO, &layer);
    let m = image_manifest(
        &Desc::of(TYPE_A, cfg_a),
        &[Desc::of(MT_LAYER, &layer)],
        json!({"subject": subject_desc.json(), "annotations": {"org.pqreg.note": "config-a"}}),
    );
    put_ref(m, MT_MANIFEST, TYPE_A, "config-a", c);
    // 2. artifactType field, empty config.
    let m = image_manifest(
        &empty,
        &[Desc::of(MT_LAYER, &layer)],
        json!({"artifactType": TYPE_A, "subject": subject_desc.json(),
               "annotations": {"org.pqreg.note": "field-a"}}),
    );
    put_ref(m, MT_MANIFEST, TYPE_A, "field-a", c);
    // 3. another type.
    let m = image_manifest(
        &empty,
        std::slice::from_ref(&empty),
        json!({"artifactType": TYPE_B, "subject": subject_desc.json(),
               "annotations": {"org.pqreg.note": "field-b"}}),
    );
    put_ref(m, MT_MANIFEST, TYPE_B, "field-b", c);
    // 4. an index as a referrer.
    let idx = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": MT_INDEX, "artifactType": TYPE_B,
        "manifests": [subject_desc.json()],
        "subject": subject_desc.json(),
        "annotations": {"org.pqreg.note": "index-b"},
    }))
    .expect("serialize index");
    put_ref(idx, MT_INDEX, TYPE_B, "index-b", c);

    // A referrer whose subject was never pushed: accepted, OCI-Subject names it.
    let missing_subject = sha256(b"never pushed manifest");
    let m = image_manifest(
        &empty,
        std::slice::from_ref(&empty),
        json!({"artifactType": TYPE_A,
               "subject": {"mediaType": MT_MANIFEST, "digest": missing_subject, "size": 21}}),
    );
    let orphan = sha256(&m);
    let r = put_manifest(c, REPO, &orphan, MT_MANIFEST, &m);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("OCI-Subject"), Some(missing_subject.as_str()));

    // A manifest without subject carries no OCI-Subject.
    let (_, _) = push_image(c, REPO, "plain", 42, 1);
    Referrers {
        subject,
        expected,
        orphan,
        missing_subject,
    }
}

fn index_of(r: &pqreg_tests::Response) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some(MT_INDEX));
    let v = r.json();
    assert_eq!(v["schemaVersion"], 2);
    v["manifests"].as_array().cloned().expect("manifests array")
}

#[test]
fn referrers_listed_with_descriptors() {
    let reg = Registry::start();
    let c = reg.client();
    let s = setup_referrers(&c);
    let list = index_of(&c.get(&format!("/v2/{REPO}/referrers/{}", s.subject)));
    assert_eq!(list.len(), s.expected.len(), "{list:#?}");
    for (d, at, note) in &s.expected {
        let e = list
            .iter()
            .find(|e| e["digest"] == d.as_str())
            .unwrap_or_else(|| panic!("referrer {note} {d} missing from {list:#?}"));
        assert_eq!(e["artifactType"], at.as_str(), "{note}");
        assert!(e["size"].as_u64().is_some_and(|s| s > 0), "{note}");
        assert!(e["mediaType"].is_string(), "{note}");
        assert_eq!(
            e["annotations"]["org.pqreg.note"],
            note.as_str(),
            "annotations copied ({note})"
        );
    }
    let sizes_ok = list.iter().all(|e| {
        let d = e["digest"].as_str().unwrap();
        let got = c.get(&manifest_path(REPO, d));
        got.body.len() as u64 == e["size"].as_u64().unwrap()
            && got.header("Content-Type") == e["mediaType"].as_str()
    });
    assert!(
        sizes_ok,
        "descriptor sizes and media types match the manifests"
    );
}

#[test]
fn referrers_filtered_by_artifact_type() {
    let reg = Registry::start();
    let c = reg.client();
    let s = setup_referrers(&c);
    for t in [TYPE_A, TYPE_B] {
        let r = c.get(&format!(
            "/v2/{REPO}/referrers/{}?artifactType={t}",
            s.subject
        ));
        let list = index_of(&r);
        assert_eq!(r.header("OCI-Filters-Applied"), Some("artifactType"));
        let want: Vec<&String> = s
            .expected
            .iter()
            .filter(|e| e.1 == t)
            .map(|e| &e.0)
            .collect();
        assert_eq!(list.len(), want.len(), "filter {t}: {list:#?}");
        assert!(list.iter().all(|e| e["artifactType"] == t));
    }
    let r = c.get(&format!(
        "/v2/{REPO}/referrers/{}?artifactType=application/x-none",
        s.subject
    ));
    assert!(index_of(&r).is_empty());
    // Without a filter the header is absent.
    let r = c.get(&format!("/v2/{REPO}/referrers/{}", s.subject));
    assert!(r.header("OCI-Filters-Applied").is_none());
}

#[test]
fn referrers_of_unknown_and_missing_subjects() {
    let reg = Registry::start();
    let c = reg.client();
    let s = setup_referrers(&c);
    let list = index_of(&c.get(&format!("/v2/{REPO}/referrers/{DUMMY}")));
    assert!(list.is_empty(), "unknown digest: empty index, 200");
    let list = index_of(&c.get(&format!("/v2/{REPO}/referrers/{}", s.missing_subject)));
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["digest"], s.orphan.as_str());
    // Referrers are per repository.
    let list = index_of(&c.get(&format!("/v2/other/repo/referrers/{}", s.subject)));
    assert!(list.is_empty());
}

#[test]
fn catalog_lists_repositories_paginated() {
    let reg = Registry::start();
    let c = reg.client();
    let mut repos = vec!["cat/a", "cat/b", "cat/c", "cat/d", "cat/e"];
    for (i, r) in repos.iter().enumerate() {
        push_image(&c, r, "t", 50 + i as u64, 1);
    }
    repos.sort();
    let r = c.get("/v2/_catalog");
    assert_eq!(r.status, 200);
    let all: Vec<String> = r.json()["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(all, repos);
    let r = c.get("/v2/_catalog?n=2");
    assert_eq!(r.json()["repositories"], json!(["cat/a", "cat/b"]));
    let next = next_link(&r).expect("Link on a partial catalog page");
    let r = c.get(&next);
    assert_eq!(r.json()["repositories"], json!(["cat/c", "cat/d"]));
}
