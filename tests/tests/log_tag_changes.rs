//! Tag moves and deletions in the transparency log (issue 15 §3,
//! spec/transparency-log.md §3.1), over real HTTP against the real registry process.
//!
//! - Racing pushes of one tag to two manifests: after every round the manifest the tag
//!   serves is the one named by the newest `tag` entry for it. Before the fix the previous
//!   target was read outside the manifest's write transaction and entries were appended
//!   in no particular order, so a rollback could be served that no monitor saw.
//! - `DELETE` of a tag and of a manifest are logged (`tag-delete`, `manifest-delete`).

use std::sync::{Arc, Barrier};

use pqreg_spec::logentry::{EntryKind, LogEntry};
use pqreg_tests::oci::*;
use pqreg_tests::{Client, Registry};

const REPO: &str = "race/model";

/// Every log entry of `repo` at index `after` or later (the search API's pages followed
/// to the end), as `(index, entry)`.
fn entries_of(c: &Client, repo: &str, after: Option<u64>) -> Vec<(u64, LogEntry)> {
    let mut out = Vec::new();
    let mut cursor = after.and_then(|a| a.checked_sub(1));
    loop {
        let mut path = format!("/log/v1/search?repository={repo}&limit=1000");
        if let Some(a) = cursor {
            path.push_str(&format!("&after={a}"));
        }
        let r = c.get(&path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let j = r.json();
        for e in j["entries"].as_array().expect("entries") {
            let index = e["index"].as_u64().expect("index");
            let text = e["entry"].as_str().expect("entry text");
            let parsed = LogEntry::parse(text.as_bytes())
                .unwrap_or_else(|err| panic!("entry {index} does not parse: {err}: {text:?}"));
            out.push((index, parsed));
        }
        match j.get("next").and_then(|n| n.as_u64()) {
            Some(n) => cursor = Some(n),
            None => return out,
        }
    }
}

/// The digest a tag serves now (`None`: 404).
fn served(c: &Client, repo: &str, tag: &str) -> Option<String> {
    let r = c.head(&manifest_path(repo, tag));
    match r.status {
        200 => Some(
            r.header("Docker-Content-Digest")
                .expect("Docker-Content-Digest")
                .to_owned(),
        ),
        404 => None,
        s => panic!("HEAD {repo}:{tag}: {s}"),
    }
}

/// What the newest `tag`/`tag-delete` entry of `tag` says it names.
fn last_logged(entries: &[(u64, LogEntry)], tag: &str) -> Option<Option<String>> {
    entries
        .iter()
        .rev()
        .find(|(_, e)| {
            e.tag_name() == Some(tag) && matches!(e.kind, EntryKind::Tag | EntryKind::TagDelete)
        })
        .map(|(_, e)| match e.kind {
            EntryKind::TagDelete => None,
            _ => Some(e.manifest.to_string()),
        })
}

#[test]
fn racing_tag_pushes_log_the_tag_that_is_served() {
    let reg = Registry::start();
    let c = reg.client();
    let (a, da) = push_image(&c, REPO, "a", 1, 1);
    let (b, db) = push_image(&c, REPO, "b", 2, 1);
    assert_eq!(
        put_manifest(&c, REPO, "latest", MT_MANIFEST, &a).status,
        201
    );
    const ROUNDS: usize = 60;
    const RACERS: usize = 4;
    let mut wrong = Vec::new();
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|i| {
                let (barrier, c) = (barrier.clone(), reg.client());
                let body = if i % 2 == 0 { a.clone() } else { b.clone() };
                std::thread::spawn(move || {
                    barrier.wait();
                    put_manifest(&c, REPO, "latest", MT_MANIFEST, &body).status
                })
            })
            .collect();
        for r in racers {
            assert_eq!(r.join().expect("racer"), 201);
        }
        let now = served(&c, REPO, "latest");
        let logged = last_logged(&entries_of(&c, REPO, None), "latest");
        if logged != Some(now.clone()) {
            wrong.push(format!(
                "round {round}: serves {now:?}, newest tag entry names {logged:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {ROUNDS} rounds serve a tag target the log does not show last (a = {da}, b = {db}):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn tag_and_manifest_deletions_are_logged() {
    let reg = Registry::start();
    let c = reg.client();
    let (m, d) = push_image(&c, REPO, "v1", 3, 1);
    for t in ["v2", "stable"] {
        assert_eq!(put_manifest(&c, REPO, t, MT_MANIFEST, &m).status, 201);
    }
    let before = entries_of(&c, REPO, None);
    let next = before.last().map_or(0, |(i, _)| i + 1);
    assert_eq!(c.delete(&manifest_path(REPO, "v1")).status, 202);
    let got = entries_of(&c, REPO, Some(next));
    assert_eq!(got.len(), 1, "{got:?}");
    let (i, e) = &got[0];
    assert_eq!(e.kind, EntryKind::TagDelete);
    assert_eq!(e.tag_name(), Some("v1"));
    assert_eq!(e.manifest.to_string(), d);
    assert_eq!(served(&c, REPO, "v1"), None);

    // By digest: one tag-delete per remaining tag (byte order), then manifest-delete.
    assert_eq!(c.delete(&manifest_path(REPO, &d)).status, 202);
    let got = entries_of(&c, REPO, Some(i + 1));
    let summary: Vec<(String, Option<String>, String)> = got
        .iter()
        .map(|(_, e)| {
            (
                e.kind.name().to_owned(),
                e.tag_name().map(str::to_owned),
                e.manifest.to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("tag-delete".into(), Some("stable".into()), d.clone()),
            ("tag-delete".into(), Some("v2".into()), d.clone()),
            ("manifest-delete".into(), None, d.clone()),
        ]
    );
    // Nothing is logged for what did not exist.
    assert_eq!(c.delete(&manifest_path(REPO, "v1")).status, 404);
    let last = got.last().map_or(0, |(i, _)| i + 1);
    assert!(entries_of(&c, REPO, Some(last)).is_empty());
    // A push that leaves a tag where it is adds nothing either.
    let (m2, _) = push_image(&c, REPO, "w", 4, 1);
    let mark = entries_of(&c, REPO, None).last().map_or(0, |(i, _)| i + 1);
    assert_eq!(put_manifest(&c, REPO, "w", MT_MANIFEST, &m2).status, 201);
    assert!(entries_of(&c, REPO, Some(mark)).is_empty());
}
