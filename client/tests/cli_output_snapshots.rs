//! What users see from the commands that talk to a registry, as reviewed snapshots: the
//! text and the `-o json` output, messages and exit code of push, pull, verify (with
//! `--identity` and without), inspect, ls, tag, recipients, copy, delete, every `log`
//! subcommand, `trust` (init, add-signer, add-log, show, check) and `cache` (show,
//! prune), and refusals (a tag moved onto another tag's signature: 15; a repository no
//! policy rule covers: 12; a tag that does not exist: 3; `trust add-log` without
//! fingerprints: 2; `trust init` over an existing policy: 1). The real `pqreg` binary
//! runs against the real `pqreg-registry` on 127.0.0.1, one command after the other.
//!
//! Each command's run is one file under `out/`: the command line, the exit code, stdout
//! and stderr. What changes from run to run is redacted before the comparison (the
//! registry's address, the home directory, digests and key IDs, versions, times, the
//! log's hashes, signatures and keys; see [`redactions`]); everything else is compared as
//! it is. A change in what the CLI prints fails here until the snapshots are updated:
//! `SNAPSHOTS=overwrite cargo test -p pqreg --test integration cli_output_snapshots::`,
//! then review the diff of `client/tests/out/` like any other change. A snapshot no case
//! writes any more fails too (delete it).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use pqreg::transfer::{RegistryClient, TransferOptions};
use pqreg_spec::digest::Digest;
use regex::Regex;
use snapbox::{Assert, Data, Redactions};

use crate::log_common::{Home, copy_dir, get, tiny};
use crate::registry_common::{Registry, start};

/// The reviewed snapshots.
fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/out")
}

/// What varies from run to run, and only that: the registry's port, the temporary home,
/// digests and key IDs (fresh keys and content secrets every run), signed versions and
/// times (the clock), and what is derived from those or from the log's fresh keys: tree
/// hashes, checkpoint signatures, key hashes and keys, a proof's entry. Indexes, tree sizes,
/// counts and byte sizes are the same every run and stay visible.
///
/// snapbox applies plain strings first, then regexes from the longest pattern to the
/// shortest: the base64 patterns are longer than the number patterns, so a run of digits
/// inside a signature is never taken for a version.
fn redactions(reg: &Registry, home: &Path) -> Redactions {
    let mut r = Redactions::new();
    r.insert("[REGISTRY]", reg.addr.clone()).unwrap();
    r.insert("[HOME]", home.to_path_buf()).unwrap();
    let re = |s: &str| Regex::new(s).unwrap();
    let rules = [
        ("[DIGEST]", r"sha256:[0-9a-f]{64}"),
        ("[DIGEST]", r"sha256:[0-9a-f]{4,63}…"),
        // SHA-256 tree hashes in base64, alone or after a JSON-escaped newline.
        (
            "[HASH]",
            r#"(?:^|[\s"(:,\[]|\\n)(?<redacted>[A-Za-z0-9+/]{43}=)(?:[^A-Za-z0-9+/=]|$)"#,
        ),
        // A note signature line: `— <key name> <base64>`.
        (
            "[SIGNATURE]",
            r"— \S+ (?<redacted>[A-Za-z0-9+/]{40,}={0,2})",
        ),
        // The hash a note key name carries: `<origin>+<8 hex> (<algorithm>)`.
        ("[KEYHASH]", r"/log\+(?<redacted>[0-9a-f]{8})\b"),
        // A note verifier key: `<origin>+<8 hex>+<base64>` (the log's keys are fresh).
        (
            "[PUBKEY]",
            r"/log\+(?:[0-9a-f]{8}|\[KEYHASH\])\+(?<redacted>[A-Za-z0-9+/]{20,}={0,2})",
        ),
        // A tlog-proof's `extra` line: the log entry in base64.
        ("[ENTRY]", r"extra (?<redacted>[A-Za-z0-9+/]+={0,2})"),
        ("[VERSION]", r"\b\d{13}\b"),
        // Unix seconds (log entry times).
        ("[TIME]", r"\b1\d{9}\b"),
        (
            "[TIME]",
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
        ),
    ];
    for (placeholder, pattern) in rules {
        r.insert(placeholder, re(pattern)).unwrap();
    }
    r
}

/// Runs commands in one home against one registry and compares each run with its
/// snapshot; collects every mismatch so one run shows them all.
struct Snapshots<'a> {
    home: &'a Home,
    assert: Assert,
    failures: Vec<String>,
    seen: Vec<String>,
}

impl<'a> Snapshots<'a> {
    fn new(reg: &Registry, home: &'a Home) -> Self {
        Snapshots {
            home,
            // Output is compared byte for byte: no `\\` → `/` path normalization, which
            // would rewrite JSON's escaped quotes.
            assert: Assert::new()
                .action_env("SNAPSHOTS")
                .normalize_paths(false)
                .redact_with(redactions(reg, home.path())),
            failures: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// Runs `pqreg ARGS…`, checks it exited `code`, and compares what it printed with
    /// `out/NAME.txt`.
    fn run(&mut self, name: &str, code: i32, args: &[&str]) -> Output {
        let o = self.home.run(args);
        let text = format!(
            "$ pqreg {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
            args.join(" "),
            o.status
                .code()
                .map_or_else(|| format!("{:?}", o.status), |c| c.to_string()),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        let path = out_dir().join(format!("{name}.txt"));
        let expected = Data::read_from(&path, None);
        if let Err(e) = self
            .assert
            .try_eq(Some(&name), Data::text(text.clone()), expected)
        {
            self.failures.push(format!("{name}: {e}"));
        }
        if o.status.code() != Some(code) {
            self.failures
                .push(format!("{name}: expected exit {code}\n{text}"));
        }
        self.seen.push(format!("{name}.txt"));
        o
    }

    /// The same command in text and in JSON: `NAME` and `NAME-json`.
    fn both(&mut self, name: &str, code: i32, args: &[&str]) {
        self.run(name, code, args);
        let mut json = vec!["-o", "json"];
        json.extend_from_slice(args);
        self.run(&format!("{name}-json"), code, &json);
    }

    /// Fails with every mismatch, and with snapshots no command wrote (a renamed or
    /// removed case leaves one behind).
    /// `ours`: whether a snapshot belongs to this test's cases (each test checks its own).
    fn finish(mut self, ours: fn(&str) -> bool) {
        for e in std::fs::read_dir(out_dir()).unwrap() {
            let f = e.unwrap().file_name().into_string().unwrap();
            if ours(&f) && !self.seen.contains(&f) {
                self.failures
                    .push(format!("{f}: no command writes this snapshot; remove it"));
            }
        }
        assert!(
            self.failures.is_empty(),
            "{} snapshot(s) differ (update with SNAPSHOTS=overwrite and review the diff):\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// What someone with push rights and no signing key does: put the manifest `from`
/// names under `tag`.
fn move_tag(reg: &Registry, repo: &str, from: &str, tag: &str) {
    let c = RegistryClient::new(&reg.addr, None, TransferOptions::default()).unwrap();
    let m = c.get_manifest(repo, from).unwrap();
    c.put_manifest(repo, tag, &m.bytes, &m.media_type).unwrap();
}

#[test]
fn registry_commands_print_what_the_snapshots_show() {
    let reg = start();
    let h = Home::new();
    h.write_policy(&reg, None);
    let model = h.path().join("model");
    copy_dir(&tiny(), &model);
    let model = model.to_str().unwrap();
    h.run_ok(&["keygen", "--recipient", "--out", &h.p("rcpt2")]);
    let mut s = Snapshots::new(&reg, &h);
    let addr = reg.addr.as_str();
    let repo = format!("{addr}/models/tiny");
    let (v1, v2) = (format!("{repo}:v1"), format!("{repo}:v2"));
    let (rcpt, signer) = (h.p("rcpt.pub"), h.p("signer.key"));
    let (id, rcpt2) = (h.p("rcpt.key"), h.p("rcpt2.pub"));
    let push = |tag: &str| {
        let r = format!("{repo}:{tag}");
        vec![
            "push".to_owned(),
            model.to_owned(),
            r,
            "--recipient".into(),
            rcpt.clone(),
            "--sign-key".into(),
            signer.clone(),
        ]
    };

    // push: v1 in text, v2 in JSON.
    s.run("push", 0, &strs(&push("v1")));
    let mut a = vec!["-o".to_owned(), "json".to_owned()];
    a.extend(push("v2"));
    let o = s.run("push-json", 0, &strs(&a));
    let pushed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let d2 = pushed["digest"].as_str().unwrap().to_owned();

    // pull and verify (with the identity, and without: signature, policy, log, digests).
    let (out1, out2) = (h.p("out1"), h.p("out2"));
    s.run("pull", 0, &["pull", &v1, &out1, "--identity", &id]);
    s.run(
        "pull-json",
        0,
        &["-o", "json", "pull", &v1, &out2, "--identity", &id],
    );
    s.both("verify-identity", 0, &["verify", &v1, "--identity", &id]);
    s.both("verify-keyless", 0, &["verify", &v1]);
    s.both("inspect", 0, &["inspect", &v1]);

    // ls, tag.
    s.both("ls-registry", 0, &["ls", addr]);
    s.both("ls-repository", 0, &["ls", &repo]);
    s.run("tag", 0, &["tag", &v1, "stable", "--sign-key", &signer]);
    s.run(
        "tag-json",
        0,
        &["-o", "json", "tag", &v2, "beta", "--sign-key", &signer],
    );

    // recipients add and remove, each in text (v1) and JSON (v2).
    for (cmd, name) in [("add", "recipients-add"), ("remove", "recipients-remove")] {
        let args = |r: &str| {
            vec![
                "recipients".to_owned(),
                cmd.to_owned(),
                r.to_owned(),
                rcpt2.clone(),
                "--identity".into(),
                id.clone(),
                "--sign-key".into(),
                signer.clone(),
            ]
        };
        s.run(name, 0, &strs(&args(&v1)));
        let mut a = vec!["-o".to_owned(), "json".to_owned()];
        a.extend(args(&v2));
        s.run(&format!("{name}-json"), 0, &strs(&a));
    }

    // copy within the registry (the policy's keys), then delete tags and versions.
    let copies = format!("{addr}/models/copy");
    let o = s.run("copy", 0, &["copy", &v1, &format!("{copies}:v1")]);
    let copied = String::from_utf8(o.stdout).unwrap();
    let dc1 = copied.trim().rsplit('@').next().unwrap().to_owned();
    let o = s.run(
        "copy-json",
        0,
        &["-o", "json", "copy", &v2, &format!("{copies}:v2")],
    );
    let copied: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dc2 = copied["digest"].as_str().unwrap().to_owned();
    s.run("delete-tag", 0, &["delete", &format!("{repo}:beta")]);
    s.run(
        "delete-tag-json",
        0,
        &["-o", "json", "delete", &format!("{repo}:stable")],
    );
    s.run("delete-version", 0, &["delete", &format!("{copies}@{dc1}")]);
    s.run(
        "delete-version-json",
        0,
        &["-o", "json", "delete", &format!("{copies}@{dc2}")],
    );

    // The log.
    s.both("log-checkpoint", 0, &["log", "checkpoint", addr]);
    s.both("log-verify", 0, &["log", "verify", addr]);
    s.both("log-get", 0, &["log", "get", addr, "0"]);
    s.both(
        "log-search-digest",
        0,
        &["log", "search", addr, "--digest", &d2],
    );
    s.both(
        "log-search-repo",
        0,
        &["log", "search", addr, "--repo", "models/copy"],
    );
    s.both(
        "log-search-key",
        0,
        &["log", "search", addr, "--key", &h.key_id],
    );
    s.run(
        "log-monitor-key",
        0,
        &["log", "monitor", addr, "--key", &h.key_id],
    );
    // Again: nothing new since the position the first run stored.
    s.run(
        "log-monitor-key-again",
        0,
        &["log", "monitor", addr, "--key", &h.key_id],
    );
    s.run(
        "log-monitor-repo-json",
        0,
        &[
            "-o",
            "json",
            "log",
            "monitor",
            addr,
            "--repo",
            "models/tiny",
        ],
    );
    let (p1, p2) = (h.p("v1.tlog-proof"), h.p("v2.tlog-proof"));
    s.run("log-proof", 0, &["log", "proof", &v1, "--out", &p1]);
    s.run(
        "log-proof-json",
        0,
        &["-o", "json", "log", "proof", &v2, "--out", &p2],
    );

    // Refusals: v1's signed manifest under another tag (15), a repository no rule of the
    // policy covers (12), a tag that does not exist (3). Nothing is written.
    move_tag(&reg, "models/tiny", "v1", "moved");
    let moved = format!("{repo}:moved");
    s.run(
        "refuse-moved-tag",
        15,
        &["pull", &moved, &h.p("o15"), "--identity", &id],
    );
    s.run(
        "refuse-moved-tag-json",
        15,
        &["-o", "json", "pull", &moved, &h.p("o15"), "--identity", &id],
    );
    let other = format!("{addr}/other/tiny:v1");
    h.push_digest(Path::new(model), &other);
    s.both(
        "refuse-no-rule",
        12,
        &["pull", &other, &h.p("o12"), "--identity", &id],
    );
    s.both(
        "refuse-not-found",
        3,
        &[
            "pull",
            &format!("{repo}:nope"),
            &h.p("o3"),
            "--identity",
            &id,
        ],
    );
    for o in ["o15", "o12", "o3"] {
        assert!(!h.path().join(o).exists(), "{o} was written");
    }

    s.finish(|f| !trust_or_cache(f));
}

/// The snapshots of [`trust_and_cache_print_what_the_snapshots_show`].
fn trust_or_cache(name: &str) -> bool {
    ["trust-", "cache-", "refuse-trust-"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// `pqreg trust` building a policy against a registry's log (text into the default
/// policy, JSON into another file), and `pqreg cache` after a `pull --cache`.
#[test]
fn trust_and_cache_print_what_the_snapshots_show() {
    let reg = start();
    let h = Home::new();
    let mut s = Snapshots::new(&reg, &h);
    let addr = reg.addr.as_str();
    let other = h.p("trust.json.toml");
    let keys = String::from_utf8(get(&format!("http://{addr}/log/v1/keys"))).unwrap();
    let fps: Vec<String> = keys
        .lines()
        .filter(|l| !l.is_empty())
        .map(|k| Digest::sha256(k.as_bytes()).to_string())
        .collect();
    let repos = format!("{addr}/models/*");
    let signer = h.p("signer.pub");

    s.run("trust-init", 0, &["trust", "init"]);
    s.run(
        "trust-init-json",
        0,
        &["-o", "json", "trust", "init", "--policy", &other],
    );
    s.both("refuse-trust-init-exists", 1, &["trust", "init"]);
    let add = ["trust", "add-signer", "release", &signer, "--repos", &repos];
    s.run("trust-add-signer", 0, &add);
    let mut a = vec!["-o", "json"];
    a.extend(add);
    a.extend(["--policy", &other]);
    s.run("trust-add-signer-json", 0, &a);
    // Without fingerprints (and without a terminal to ask on): refused, showing them.
    s.both(
        "refuse-trust-add-log-unpinned",
        2,
        &["trust", "add-log", addr],
    );
    let mut add = vec!["trust", "add-log", addr];
    for f in &fps {
        add.extend(["--fingerprint", f]);
    }
    s.run("trust-add-log", 0, &add);
    let mut a = vec!["-o", "json"];
    a.extend(&add);
    a.extend(["--policy", &other]);
    s.run("trust-add-log-json", 0, &a);
    s.both("trust-show", 0, &["trust", "show"]);
    let r = format!("{addr}/models/tiny:v1");
    s.both("trust-check", 0, &["trust", "check", &r]);

    // The cache after a pull that keeps the chunk layers.
    h.push_digest(&tiny(), &r);
    let out = h.p("out");
    h.run_ok(&["pull", &r, &out, "--identity", &h.p("rcpt.key"), "--cache"]);
    s.both("cache-show", 0, &["cache", "show"]);
    s.run(
        "cache-prune-older",
        0,
        &["cache", "prune", "--older-than", "1d"],
    );
    s.run("cache-prune-json", 0, &["-o", "json", "cache", "prune"]);
    s.run("cache-show-empty", 0, &["cache", "show"]);

    s.finish(trust_or_cache);
}
