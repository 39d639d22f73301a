//! Tag rules (issue 15 §9, spec/auth.md §3.1), over real HTTP against the real registry
//! process: a tag matching an immutable pattern is set once and never moved or deleted
//! (not even by deleting its manifest, nor by two racing first pushes), and a tag whose
//! rule names users may be created, moved or deleted only by them. Every refusal is
//! `403 DENIED` naming the rule. Before, any user with push rights could move a
//! colleague's release tag.

use std::sync::{Arc, Barrier};

use base64::Engine;
use pqreg_tests::oci::*;
use pqreg_tests::{Client, Registry, Response};

const REPO: &str = "models/m";

fn basic(user: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{user}-pw"))
    )
}

fn put_as(c: &Client, user: &str, repo: &str, tag: &str, body: &[u8]) -> Response {
    c.must(
        "PUT",
        &manifest_path(repo, tag),
        &[
            ("Authorization", &basic(user)),
            ("Content-Type", MT_MANIFEST),
        ],
        body,
    )
}

fn delete_as(c: &Client, user: &str, repo: &str, reference: &str) -> Response {
    c.must(
        "DELETE",
        &manifest_path(repo, reference),
        &[("Authorization", &basic(user))],
        b"",
    )
}

fn serves(c: &Client, repo: &str, tag: &str) -> Option<String> {
    let r = c.must(
        "HEAD",
        &manifest_path(repo, tag),
        &[("Authorization", &basic("alice"))],
        b"",
    );
    (r.status == 200).then(|| r.header("Docker-Content-Digest").unwrap_or("").to_owned())
}

#[track_caller]
fn refused_by(r: &Response, rule: u64, reason: &str) {
    assert_error(r, 403, Some("DENIED"));
    let j = r.json();
    let e = &j["errors"][0];
    assert_eq!(e["detail"]["rule"], rule, "{}", r.text());
    assert_eq!(e["detail"]["reason"], reason, "{}", r.text());
    let msg = e["message"].as_str().unwrap_or_default();
    assert!(msg.contains(&format!("rule {rule}")), "{msg}");
}

/// A registry seeded (without access control) with images `a` and `b` in `models/m` and
/// `other/x`, `v1` and `latest` on `a`; then restarted with basic auth and tag rules.
fn seeded() -> (
    Registry,
    tempfile::TempDir,
    Vec<u8>,
    String,
    Vec<u8>,
    String,
) {
    let mut reg = Registry::start();
    let c = reg.client();
    let (a, da) = push_image(&c, REPO, "v1", 1, 1);
    let (b, db) = push_image(&c, REPO, "b", 2, 1);
    assert_eq!(
        put_manifest(&c, REPO, "latest", MT_MANIFEST, &a).status,
        201
    );
    push_image(&c, "other/x", "v1", 1, 1);
    push_image(&c, "other/x", "b", 2, 1);
    let dir = tempfile::tempdir().expect("tmp");
    let pw = dir.path().join("htpasswd");
    let users: String = ["alice", "bot"]
        .iter()
        .map(|u| {
            format!(
                "{u}:{}\n",
                bcrypt::hash(format!("{u}-pw"), 4).expect("bcrypt")
            )
        })
        .collect();
    std::fs::write(&pw, users).expect("htpasswd");
    reg.set_config(&format!(
        r#"
[auth]
mode = "basic"
htpasswd = "{}"
[[auth.rules]]
repositories = ["**"]
users = ["alice", "bot"]
actions = ["pull", "push", "delete"]
[[auth.tag_rules]]
repositories = ["models/**"]
tags = ["v*"]
immutable = true
[[auth.tag_rules]]
repositories = ["models/**"]
tags = ["latest"]
users = ["bot"]
"#,
        pw.display()
    ));
    reg.restart();
    (reg, dir, a, da, b, db)
}

#[test]
fn immutable_tags_are_set_once() {
    let (reg, _dir, a, da, b, db) = seeded();
    let c = reg.client();
    // v1 names a: moving it is refused, for everyone; pushing a again is fine.
    for user in ["alice", "bot"] {
        refused_by(&put_as(&c, user, REPO, "v1", &b), 1, "immutable");
    }
    assert_eq!(serves(&c, REPO, "v1"), Some(da.clone()));
    assert_eq!(put_as(&c, "alice", REPO, "v1", &a).status, 201);
    // A new immutable tag is set once.
    assert_eq!(put_as(&c, "alice", REPO, "v2", &b).status, 201);
    refused_by(&put_as(&c, "alice", REPO, "v2", &a), 1, "immutable");
    assert_eq!(serves(&c, REPO, "v2"), Some(db.clone()));
    // Never deleted: not by tag, not by deleting the manifest it names.
    refused_by(&delete_as(&c, "alice", REPO, "v1"), 1, "immutable");
    // (bot may remove latest, which also names a; v1 still stops it.)
    refused_by(&delete_as(&c, "bot", REPO, &da), 1, "immutable");
    refused_by(&delete_as(&c, "alice", REPO, &da), 2, "restricted");
    assert_eq!(serves(&c, REPO, "v1"), Some(da.clone()));
    assert_eq!(
        serves(&c, REPO, "latest"),
        Some(da.clone()),
        "nothing removed"
    );
    // Other repositories are not covered by the pattern.
    assert_eq!(put_as(&c, "alice", "other/x", "v1", &b).status, 201);
    assert_eq!(delete_as(&c, "alice", "other/x", "v1").status, 202);

    // Two racing first pushes of one immutable tag: exactly one wins.
    for round in 0..10 {
        let tag = format!("v-race-{round}");
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .map(|body| {
                let (barrier, c, tag) = (barrier.clone(), reg.client(), tag.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    put_as(&c, "alice", REPO, &tag, &body).status
                })
            })
            .collect();
        let mut got: Vec<u16> = racers
            .into_iter()
            .map(|t| t.join().expect("racer"))
            .collect();
        got.sort();
        assert_eq!(got, [201, 403], "round {round}");
    }
}

#[test]
fn restricted_tags_move_only_for_their_users() {
    let (reg, _dir, a, da, b, db) = seeded();
    let c = reg.client();
    refused_by(&put_as(&c, "alice", REPO, "latest", &b), 2, "restricted");
    assert_eq!(serves(&c, REPO, "latest"), Some(da.clone()));
    refused_by(&delete_as(&c, "alice", REPO, "latest"), 2, "restricted");
    // Deleting b's manifest is fine while no protected tag names it ...
    assert_eq!(put_as(&c, "bot", REPO, "latest", &b).status, 201);
    assert_eq!(serves(&c, REPO, "latest"), Some(db.clone()));
    // ... but not once bot's latest does.
    refused_by(&delete_as(&c, "alice", REPO, &db), 2, "restricted");
    assert_eq!(put_as(&c, "bot", REPO, "latest", &a).status, 201);
    assert_eq!(delete_as(&c, "bot", REPO, "latest").status, 202);
    assert_eq!(serves(&c, REPO, "latest"), None);
    // Creating it is restricted too; other tags are not.
    refused_by(&put_as(&c, "alice", REPO, "latest", &a), 2, "restricted");
    assert_eq!(put_as(&c, "alice", REPO, "dev", &a).status, 201);
    assert_eq!(put_as(&c, "alice", REPO, "dev", &b).status, 201);
}
