//! A manifest stored under both its SHA-256 and its SHA-512 is one manifest (spec/api.md,
//! Manifests; attack finding F5 in the second attack report). Before, a `DELETE` by the
//! SHA-512 removed only that record and logged `manifest-delete` for the SHA-256 while the
//! SHA-256 record and its tags stayed served: monitors were told a version was gone that
//! clients still pulled. Now a `DELETE` by either digest removes both records, their tags
//! and their referrer rows in one transaction and logs one `manifest-delete`; a protected
//! tag on either record refuses the delete whole and logs nothing; garbage collection
//! keeps the blobs of a SHA-512 record and frees them once the manifest is deleted.
#![allow(clippy::unwrap_used)] // a test: a failure should panic

use std::time::{Duration, Instant};

use crate::common::*;
use pqreg_registry::auth::tags::TagRuleConfig;
use pqreg_registry::config::Config;
use pqreg_spec::logentry::{EntryKind, LogEntry};
use serde_json::Value;
use sha2::{Digest as _, Sha256, Sha512};

const REPO: &str = "twins/model";
const CONFIG: &[u8] = b"{}";
const LAYER: &[u8] = b"twin layer";

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn sha512(b: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(b)))
}

/// A registry with a manifest stored three ways (tags `v1` and `stable`, which store it
/// under its SHA-256, and its SHA-512), and a referrer of it stored under both digests.
struct Twins {
    _dir: tempfile::TempDir,
    _reg: pqreg_registry::Running,
    a: ureq::Agent,
    base: String,
    m256: String,
    m512: String,
    r256: String,
    r512: String,
}

impl Twins {
    fn start(tweak: impl FnOnce(&mut Config)) -> Twins {
        let dir = tempfile::tempdir().unwrap();
        let reg = start(dir.path(), tweak);
        let (a, base) = (agent(), reg.url());
        push_blob(&a, &base, REPO, CONFIG);
        push_blob(&a, &base, REPO, LAYER);
        let m = image_manifest(CONFIG, &[LAYER], None);
        let r = image_manifest(CONFIG, &[], Some(&m));
        let t = Twins {
            _dir: dir,
            _reg: reg,
            a,
            base,
            m256: sha256(&m),
            m512: sha512(&m),
            r256: sha256(&r),
            r512: sha512(&r),
        };
        for (reference, bytes, stored) in [
            ("v1", &m, &t.m256),
            ("stable", &m, &t.m256),
            (t.m512.as_str(), &m, &t.m512),
            (t.r256.as_str(), &r, &t.r256),
            (t.r512.as_str(), &r, &t.r512),
        ] {
            let resp = put_manifest(&t.a, &t.base, REPO, reference, bytes);
            assert_eq!(resp.status(), 201, "PUT {reference}");
            assert_eq!(
                hdr(&resp, "Docker-Content-Digest").as_deref(),
                Some(stored.as_str())
            );
        }
        // Every name serves, and the subject's referrers list has one row per record.
        for reference in [&t.m256, &t.m512, "v1", "stable", &t.r256, &t.r512] {
            assert_eq!(t.status("GET", reference), 200, "GET {reference}");
        }
        assert_eq!(t.referrers(), vec![t.r256.clone(), t.r512.clone()]);
        t
    }

    fn url(&self, reference: &str) -> String {
        format!("{}/v2/{REPO}/manifests/{reference}", self.base)
    }

    fn status(&self, method: &str, reference: &str) -> u16 {
        let url = self.url(reference);
        let r = match method {
            "GET" => self.a.get(&url).call(),
            "HEAD" => self.a.head(&url).call(),
            "DELETE" => self.a.delete(&url).call(),
            other => panic!("no method {other}"),
        };
        r.unwrap().status().as_u16()
    }

    /// Deletes `reference`; the status and the error code, if any.
    fn delete(&self, reference: &str) -> (u16, String) {
        let mut r = self.a.delete(self.url(reference)).call().unwrap();
        let status = r.status().as_u16();
        let code = if status >= 400 {
            err_code(&mut r)
        } else {
            String::new()
        };
        (status, code)
    }

    /// GET and HEAD of every reference: `(method reference, status)`.
    fn served(&self, references: &[&str]) -> Vec<(String, u16)> {
        let mut out = Vec::new();
        for reference in references {
            for method in ["GET", "HEAD"] {
                out.push((
                    format!("{method} {reference}"),
                    self.status(method, reference),
                ));
            }
        }
        out
    }

    fn tags(&self) -> Vec<String> {
        let mut r = self
            .a
            .get(format!("{}/v2/{REPO}/tags/list", self.base))
            .call()
            .unwrap();
        assert_eq!(r.status(), 200);
        let v = json_body(&mut r);
        v["tags"]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect()
    }

    /// The digests the referrers list of the manifest's SHA-256 shows, sorted.
    fn referrers(&self) -> Vec<String> {
        let mut r = self
            .a
            .get(format!("{}/v2/{REPO}/referrers/{}", self.base, self.m256))
            .call()
            .unwrap();
        assert_eq!(r.status(), 200);
        let v = json_body(&mut r);
        let mut out: Vec<String> = v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["digest"].as_str().unwrap().to_owned())
            .collect();
        out.sort();
        out
    }

    /// Every log entry of the repository, as `(kind, tag, manifest)`.
    fn log(&self) -> Vec<(String, Option<String>, String)> {
        let mut r = self
            .a
            .get(format!(
                "{}/log/v1/search?repository={REPO}&limit=1000",
                self.base
            ))
            .call()
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = json_body(&mut r);
        assert!(v.get("next").is_none_or(Value::is_null), "one page: {v}");
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let text = e["entry"].as_str().unwrap();
                let e = LogEntry::parse(text.as_bytes()).unwrap();
                (
                    e.kind.name().to_owned(),
                    e.tag_name().map(str::to_owned),
                    e.manifest.to_string(),
                )
            })
            .collect()
    }
}

fn entry(kind: EntryKind, tag: Option<&str>, manifest: &str) -> (String, Option<String>, String) {
    (
        kind.name().to_owned(),
        tag.map(str::to_owned),
        manifest.to_owned(),
    )
}

fn all(status: u16, served: &[(String, u16)]) -> bool {
    served.iter().all(|(_, s)| *s == status)
}

/// The attack of e6.sh: the manifest pushed by tag, then its bytes by SHA-512, then a
/// DELETE by SHA-512. Both records and both tags go, with one `manifest-delete`.
#[test]
fn a_delete_by_sha512_removes_the_sha256_twin_and_its_tags() {
    let t = Twins::start(|_| {});
    let before = t.log();
    assert_eq!(t.delete(&t.m512), (202, String::new()));

    let served = t.served(&[&t.m256, &t.m512, "v1", "stable"]);
    assert!(
        all(404, &served),
        "still served after the delete: {served:?}"
    );
    assert!(t.tags().is_empty(), "tags left: {:?}", t.tags());
    let after = t.log();
    assert_eq!(
        after[before.len()..],
        [
            entry(EntryKind::TagDelete, Some("stable"), &t.m256),
            entry(EntryKind::TagDelete, Some("v1"), &t.m256),
            entry(EntryKind::ManifestDelete, None, &t.m256),
        ],
        "the delete's log entries"
    );
    // Gone under both names: a second delete by either finds nothing and logs nothing.
    for d in [&t.m256, &t.m512] {
        assert_eq!(t.delete(d), (404, "MANIFEST_UNKNOWN".into()), "{d}");
    }
    assert_eq!(t.log().len(), after.len());
    // The referrer (another manifest) is untouched.
    assert_eq!(t.referrers(), vec![t.r256.clone(), t.r512.clone()]);
}

/// The same rule the other way round: a DELETE by SHA-256 (or by the tag's digest) takes
/// the SHA-512 record with it; and a referrer stored both ways leaves the subject's
/// referrers list whole when deleted by either.
#[test]
fn a_delete_by_sha256_removes_the_sha512_twin_and_both_referrer_rows() {
    let t = Twins::start(|_| {});
    let before = t.log().len();
    assert_eq!(t.delete(&t.r512), (202, String::new()));
    assert!(all(404, &t.served(&[&t.r256, &t.r512])));
    assert_eq!(t.referrers(), Vec::<String>::new(), "referrer rows left");
    assert_eq!(
        t.log()[before..],
        [entry(EntryKind::ManifestDelete, None, &t.r256)]
    );

    let before = t.log().len();
    assert_eq!(t.delete(&t.m256), (202, String::new()));
    let served = t.served(&[&t.m256, &t.m512, "v1", "stable"]);
    assert!(
        all(404, &served),
        "still served after the delete: {served:?}"
    );
    assert!(t.tags().is_empty());
    let log = t.log();
    assert_eq!(
        log[before..],
        [
            entry(EntryKind::TagDelete, Some("stable"), &t.m256),
            entry(EntryKind::TagDelete, Some("v1"), &t.m256),
            entry(EntryKind::ManifestDelete, None, &t.m256),
        ]
    );
    assert_eq!(t.delete(&t.m512), (404, "MANIFEST_UNKNOWN".into()));
    assert_eq!(t.log().len(), log.len());
}

/// An immutable tag on the SHA-256 record stops a DELETE by the SHA-512 too (before, the
/// SHA-512 record had no tags of its own, so its delete went through): 403, nothing
/// removed, nothing logged.
#[test]
fn a_protected_tag_on_the_twin_refuses_the_delete_whole() {
    let t = Twins::start(|cfg| {
        cfg.auth.tag_rules = vec![TagRuleConfig {
            repositories: vec!["twins/**".into()],
            tags: vec!["v*".into()],
            immutable: true,
            ..TagRuleConfig::default()
        }];
    });
    let before = t.log();
    for d in [&t.m512, &t.m256] {
        assert_eq!(t.delete(d), (403, "DENIED".into()), "DELETE {d}");
    }
    let served = t.served(&[&t.m256, &t.m512, "v1", "stable"]);
    assert!(all(200, &served), "removed despite the refusal: {served:?}");
    assert_eq!(t.tags(), vec!["stable".to_owned(), "v1".to_owned()]);
    assert_eq!(t.log(), before, "a refused delete logged something");
}

/// Waits (bounded) until a garbage collection has run after now: it pushes an unreferenced
/// canary blob and waits for it to go. A link is collected when it is older than the
/// collection's cutoff, so every link made before the canary was judged by that run too.
fn collected_once(t: &Twins, canary: &[u8]) {
    let d = push_blob(&t.a, &t.base, REPO, canary);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut backoff = Duration::from_millis(50);
    while blob_status(t, &d.to_string()) != 404 {
        assert!(
            Instant::now() < deadline,
            "no collection removed the canary"
        );
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(500));
    }
}

fn blob_status(t: &Twins, digest: &str) -> u16 {
    t.a.head(format!("{}/v2/{REPO}/blobs/{digest}", t.base))
        .call()
        .unwrap()
        .status()
        .as_u16()
}

/// GC: a manifest stored only under its SHA-512 keeps its blobs; once it is stored under
/// its SHA-256 too and deleted by that digest, no record keeps them and they are collected
/// (before, the SHA-512 record survived that delete and kept them).
#[test]
fn gc_keeps_a_sha512_records_blobs_and_frees_them_with_its_twin() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |cfg| {
        cfg.gc.interval_secs = 1;
        cfg.gc.grace_period_secs = 0;
    });
    let (a, base) = (agent(), reg.url());
    push_blob(&a, &base, REPO, CONFIG);
    push_blob(&a, &base, REPO, LAYER);
    let m = image_manifest(CONFIG, &[LAYER], None);
    let t = Twins {
        _dir: dir,
        _reg: reg,
        a,
        base,
        m256: sha256(&m),
        m512: sha512(&m),
        r256: String::new(),
        r512: String::new(),
    };
    assert_eq!(put_manifest(&t.a, &t.base, REPO, &t.m512, &m).status(), 201);
    collected_once(&t, b"canary one");
    for b in [CONFIG, LAYER] {
        assert_eq!(
            blob_status(&t, &sha256(b)),
            200,
            "GC took a blob of a sha512 record"
        );
    }
    // Stored under its SHA-256 too, then deleted by it: no record of it is left.
    assert_eq!(put_manifest(&t.a, &t.base, REPO, "v1", &m).status(), 201);
    assert_eq!(t.delete(&t.m256), (202, String::new()));
    assert_eq!(t.status("GET", &t.m512), 404);
    collected_once(&t, b"canary two");
    for b in [CONFIG, LAYER] {
        assert_eq!(
            blob_status(&t, &sha256(b)),
            404,
            "a deleted manifest's record still keeps its blobs"
        );
    }
}
