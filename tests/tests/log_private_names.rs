//! Issue 15 §5 (spec/auth.md §3.2, spec/transparency-log.md §3.2): the public log does
//! not name private repositories. Over real HTTP against the real registry process, with
//! access rules (Basic) and the default `log.entry_names = "auto"`:
//!
//! - an anonymous caller reads every entry bundle and searches by the repository's name,
//!   its tag and its manifest digest: it finds neither `team/secret-project` nor
//!   `v2-launch` anywhere (on main both were in the entry tiles);
//! - it cannot get the repository's name key; a user with `pull` gets it, recomputes the
//!   ids of the entry, and finds it by searching the name;
//! - a repository open to anonymous pulls is still logged with its names.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use pqreg_spec::logentry::{EntryKind, EntryName, LogEntry, NameKey};
use pqreg_spec::tile::parse_entry_bundle;
use pqreg_tests::Registry;
use pqreg_tests::http::Client;
use pqreg_tests::oci::{Desc, MT_CONFIG, MT_LAYER, MT_MANIFEST, image_manifest, push_blob, sha256};
use serde_json::json;

const SECRET: &str = "team/secret-project";
const TAG: &str = "v2-launch";
const PUBLIC: &str = "public/open";

fn basic(user: &str, pw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

/// Pushes a config, a layer and the manifest by digest (no tag, so nothing is logged yet).
fn seed(c: &Client, repo: &str, n: u8) -> (Vec<u8>, String) {
    let config = serde_json::to_vec(&json!({"n": n})).unwrap();
    let layer = vec![n; 100];
    push_blob(c, repo, &config);
    push_blob(c, repo, &layer);
    let m = image_manifest(
        &Desc::of(MT_CONFIG, &config),
        &[Desc::of(MT_LAYER, &layer)],
        json!({}),
    );
    let d = sha256(&m);
    let r = c.must(
        "PUT",
        &format!("/v2/{repo}/manifests/{d}"),
        &[("Content-Type", MT_MANIFEST)],
        &m,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    (m, d)
}

/// Every entry of the log, read from the entry bundles as anyone can.
fn all_entries(c: &Client) -> Vec<String> {
    let cp = c.get("/log/checkpoint");
    assert_eq!(cp.status, 200);
    let size: u64 = cp.text().lines().nth(1).unwrap().parse().unwrap();
    assert!(size > 0 && size < 256, "{size}");
    let r = c.get(&format!("/log/tile/entries/000.p/{size}"));
    assert_eq!(r.status, 200, "{}", r.text());
    parse_entry_bundle(&r.body, size as u16)
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8(e.to_vec()).unwrap())
        .collect()
}

fn search(c: &Client, query: &str, auth: Option<&str>) -> Vec<String> {
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
    let r = c.get_with(&format!("/log/v1/search?{query}"), &headers);
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json()["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn anonymous_readers_of_the_log_do_not_learn_private_names() {
    let mut reg = Registry::start();
    let c = reg.client();
    let (secret_m, secret_d) = seed(&c, SECRET, 1);
    let (public_m, public_d) = seed(&c, PUBLIC, 2);
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("htpasswd");
    let hash = |p: &str| bcrypt::hash(p, 4).unwrap();
    std::fs::write(
        &pw,
        format!(
            "admin:{}\ncarol:{}\nmallory:{}\n",
            hash("admin-pw"),
            hash("carol-pw"),
            hash("mallory-pw")
        ),
    )
    .unwrap();
    reg.set_config(&format!(
        r#"
[auth]
mode = "basic"
htpasswd = "{}"
[[auth.rules]]
repositories = ["**"]
users = ["admin"]
actions = ["pull", "push", "delete"]
[[auth.rules]]
repositories = ["team/**"]
users = ["carol"]
actions = ["pull"]
[[auth.rules]]
repositories = ["public/*"]
anonymous = true
actions = ["pull"]
"#,
        pw.display()
    ));
    reg.restart();
    let c = reg.client();
    let admin = basic("admin", "admin-pw");
    let carol = basic("carol", "carol-pw");
    let mallory = basic("mallory", "mallory-pw");
    for (repo, m) in [(SECRET, &secret_m), (PUBLIC, &public_m)] {
        let r = c.must(
            "PUT",
            &format!("/v2/{repo}/manifests/{TAG}"),
            &[("Content-Type", MT_MANIFEST), ("Authorization", &admin)],
            m,
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }

    // Anonymous: the entry bundles hold both tag moves, and only the public one names
    // its repository and tag.
    let entries = all_entries(&c);
    assert_eq!(entries.len(), 2, "{entries:?}");
    for e in &entries {
        assert!(!e.contains("secret") && !e.contains("team/"), "{e}");
    }
    let public: Vec<&String> = entries.iter().filter(|e| e.contains(&public_d)).collect();
    assert_eq!(public.len(), 1);
    assert!(
        public[0].contains(&format!("\nrepository {PUBLIC}\ntag {TAG}\n")),
        "{}",
        public[0]
    );
    let keyed_text = entries
        .iter()
        .find(|e| e.contains(&secret_d))
        .expect("the secret repository's tag move is logged")
        .clone();
    assert!(!keyed_text.contains(TAG), "{keyed_text}");
    let keyed = LogEntry::parse(keyed_text.as_bytes()).unwrap();
    assert_eq!(keyed.kind, EntryKind::Tag);
    assert!(keyed.is_keyed());

    // Anonymous search by the name or the tag finds nothing; by the digest, the keyed
    // entry, ids only.
    assert!(search(&c, &format!("repository={SECRET}"), None).is_empty());
    assert!(search(&c, &format!("repository={SECRET}&tag={TAG}"), None).is_empty());
    let by_tag = search(&c, &format!("tag={TAG}"), None);
    assert_eq!(by_tag.len(), 1, "only the public entry: {by_tag:?}");
    assert!(by_tag[0].contains(PUBLIC));
    assert_eq!(
        search(&c, &format!("manifest={secret_d}"), None),
        vec![keyed_text.clone()]
    );
    // A user without pull on the repository is treated alike.
    assert!(search(&c, &format!("repository={SECRET}"), Some(&mallory)).is_empty());

    // The name key: refused to anonymous callers and to users without pull.
    let key_path = format!("/v2/{SECRET}/_pqreg/log-name-key");
    assert_eq!(c.get(&key_path).status, 401);
    assert_eq!(
        c.get_with(&key_path, &[("Authorization", &mallory)]).status,
        403
    );
    // A puller gets it, and the entry's ids are those of the name and tag under it.
    let r = c.get_with(&key_path, &[("Authorization", &carol)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["repository"], SECRET);
    let origin = j["origin"].as_str().unwrap().to_owned();
    let key = NameKey::parse(j["nameKey"].as_str().unwrap()).unwrap();
    assert!(keyed.names_repository(SECRET, Some(&key), &origin).unwrap());
    assert!(keyed.names_tag(SECRET, TAG, Some(&key)).unwrap());
    assert!(!keyed.names_tag(SECRET, "v1", Some(&key)).unwrap());
    assert!(!keyed.names_repository(PUBLIC, Some(&key), &origin).unwrap());
    assert_eq!(
        keyed.repository,
        EntryName::Id(key.repository_id(&origin, SECRET).unwrap())
    );
    // It finds the entry by the names.
    assert_eq!(
        search(&c, &format!("repository={SECRET}"), Some(&carol)),
        vec![keyed_text.clone()]
    );
    assert_eq!(
        search(&c, &format!("repository={SECRET}&tag={TAG}"), Some(&carol)),
        vec![keyed_text.clone()]
    );
    assert!(search(&c, &format!("repository={SECRET}&tag=v1"), Some(&carol)).is_empty());
    // The public repository has no name key.
    let r = c.get(&format!("/v2/{PUBLIC}/_pqreg/log-name-key"));
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.error_codes(), ["NAME_UNKNOWN"]);
    assert_eq!(search(&c, &format!("repository={PUBLIC}"), None).len(), 1);
}
