//! `pqreg login` against a real registry with access control (spec/auth.md): the
//! credentials are checked through the registry's token flow before they are stored, and
//! the stored ones carry push (with its log submission) and pull through that flow.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::cli_common::{Home, exits, files, ok, policy, tiny};
use crate::registry_common;
use crate::registry_common::start_in_env;

/// `pqreg [-o json] login HOST -u USER --password-stdin` with `password` on stdin.
fn login(home: &Path, host: &str, user: &str, password: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pqreg"))
        .args(["-o", "json", "login", host, "-u", user, "--password-stdin"])
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("DOCKER_CONFIG", home.join("docker"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn registry(dir: &Path, mode: &str) -> registry_common::Registry {
    let pw = dir.join("htpasswd");
    std::fs::write(
        &pw,
        format!("alice:{}\n", bcrypt::hash("alice-pw", 4).unwrap()),
    )
    .unwrap();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    start_in_env(
        &data,
        &[
            ("PQREG_REGISTRY__AUTH__MODE", mode),
            ("PQREG_REGISTRY__AUTH__HTPASSWD", pw.to_str().unwrap()),
            (
                "PQREG_REGISTRY__AUTH__RULES",
                r#"[{repositories = ["models/**"], users = ["alice"], actions = ["pull", "push"]}]"#,
            ),
        ],
    )
}

#[test]
fn login_checks_credentials_then_push_and_pull_use_them() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = registry(tmp.path(), "token");
    let host = reg.addr.clone();
    let h = Home::new();
    let cfg = h.path().join("docker/config.json");

    // A wrong password: refused, nothing stored.
    let o = login(h.path(), &host, "alice", "wrong");
    exits(&o, 1, "wrong password");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("refused"), "{out}");
    assert!(!cfg.exists() || !std::fs::read_to_string(&cfg).unwrap().contains(&host));

    // Without credentials the registry refuses a push.
    let model = tiny();
    let reference = format!("{host}/models/tiny:v1");
    let o = h.push(&model, &reference, "signer.key", &[]);
    assert_ne!(o.status.code(), Some(0), "anonymous push must fail");

    // The right password: checked, stored, and push/pull work through the token flow.
    let o = login(h.path(), &host, "alice", "alice-pw");
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(v["checked"], true);
    assert_eq!(v["registry_requires_auth"], true);
    assert!(std::fs::read_to_string(&cfg).unwrap().contains(&host));
    ok(&h.push(&model, &reference, "signer.key", &[]));
    policy(
        &h.path().join("trust.toml"),
        &h.path().join("signer.pub"),
        &format!("{host}/models/*"),
    );
    ok(&h.pull(&reference, "out", "rcpt.key", &[]));
    assert_eq!(files(&h.path().join("out")), files(&model));
    // Outside the rules alice may not push.
    let o = h.push(&model, &format!("{host}/other/tiny:v1"), "signer.key", &[]);
    assert_ne!(o.status.code(), Some(0), "push outside the rules must fail");
}

#[test]
fn login_to_basic_mode_and_to_an_open_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = registry(tmp.path(), "basic");
    let h = Home::new();
    exits(
        &login(h.path(), &reg.addr, "alice", "nope"),
        1,
        "wrong password",
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(&login(h.path(), &reg.addr, "alice", "alice-pw"))).unwrap();
    assert_eq!(v["registry_requires_auth"], true);
    let open = registry_common::start();
    let v: serde_json::Value =
        serde_json::from_str(&ok(&login(h.path(), &open.addr, "alice", "x"))).unwrap();
    assert_eq!(v["checked"], true);
    assert_eq!(v["registry_requires_auth"], false);
    // Nothing listening: an error, nothing stored.
    let o = login(h.path(), "127.0.0.1:9", "alice", "x");
    exits(&o, 1, "unreachable registry");
}
