//! Snapshot tests of the `pqreg` binary: exact stdout, stderr and exit code, run with a
//! clean environment (a temporary HOME and DOCKER_CONFIG).
// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use assert_cmd::Command;

use crate::registry_common;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn pqreg(home: &Path, args: &[&str], stdin: &str) -> Run {
    let out = Command::cargo_bin("pqreg")
        .unwrap()
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("DOCKER_CONFIG", home.join("docker"))
        .current_dir(home)
        .args(args)
        .write_stdin(stdin)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn check(home: &Path, args: &[&str], stdin: &str, code: i32, stdout: &str, stderr: &str) {
    let r = pqreg(home, args, stdin);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (code, stdout, stderr),
        "pqreg {args:?}"
    );
}

#[test]
fn env_text_and_json() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path().display();
    check(
        home.path(),
        &["env"],
        "",
        0,
        &format!(
            "config           {h}/.config/pqreg\n\
             cache            {h}/.cache/pqreg\n\
             state            {h}/.local/state/pqreg\n\
             docker-config    {h}/docker/config.json (does not exist)\n\
             containers-auth  (XDG_RUNTIME_DIR is not set)\n\
             default-registry (none: set PQREG_REGISTRY)\n\
             credentials      (none)\n"
        ),
        "",
    );
    let r = pqreg(home.path(), &["-o", "json", "env"], "");
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["state"], format!("{h}/.local/state/pqreg"));
    assert_eq!(v["docker_config_exists"], false);
}

#[test]
fn login_logout_round_trip() {
    let home = tempfile::tempdir().unwrap();
    let p = home.path();
    let cfg = p.join("docker/config.json");
    // login asks the registry first: an open one (no access control) accepts anything.
    let reg = registry_common::start();
    let host = reg.addr.clone();
    check(
        p,
        &["login", &host, "-u", "alice", "--password-stdin"],
        "s3cret\n",
        0,
        "",
        &format!(
            "pqreg: stored credentials for {host} in {} ({host} asks for none)\n",
            cfg.display()
        ),
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    // base64("alice:s3cret")
    assert!(text.contains("\"auth\": \"YWxpY2U6czNjcmV0\""), "{text}");
    let r = pqreg(p, &["env"], "");
    assert!(
        r.stdout
            .contains(&format!("credentials      {host} (auths)\n")),
        "{}",
        r.stdout
    );
    check(
        p,
        &["-o", "json", "logout", &format!("http://{host}/v2/")],
        "",
        0,
        &format!("{{\"registry\":\"{host}\",\"removed\":true}}\n"),
        &format!("pqreg: removed credentials for {host}\n"),
    );
    check(
        p,
        &["logout", &host],
        "",
        0,
        "",
        &format!("pqreg: not logged in to {host}\n"),
    );
}

#[test]
fn login_refuses_bad_input() {
    let home = tempfile::tempdir().unwrap();
    let p = home.path();
    check(
        p,
        &["login", "localhost:5000", "-u", "alice"],
        "",
        2,
        "",
        "pqreg: error: no password given\npqreg: hint: Pass it on stdin: `printf %s \"$TOKEN\" | pqreg login HOST -u USER --password-stdin` (never as an argument, where shell history and ps would show it).\n",
    );
    check(
        p,
        &["login", "bad host", "-u", "a", "--password-stdin"],
        "x",
        2,
        "",
        "pqreg: error: registry \"bad host\" is not a valid host[:port]\npqreg: hint: Give the registry as host[:port], e.g. localhost:5000.\n",
    );
    check(
        p,
        &["login", "reg.io", "-u", "a", "--password-stdin"],
        "",
        2,
        "",
        "pqreg: error: the password read from stdin is empty\npqreg: hint: Pipe the password or token into `pqreg login … --password-stdin`.\n",
    );
    assert!(!p.join("docker").exists());
}

#[test]
fn json_errors_go_to_stdout() {
    let home = tempfile::tempdir().unwrap();
    let p = home.path();
    // -o json puts the error on stdout.
    let r = pqreg(
        p,
        &[
            "-o",
            "json",
            "pull",
            "localhost:5000/m",
            "out",
            "--policy",
            "/nonexistent/policy.toml",
        ],
        "",
    );
    assert_eq!((r.code, r.stderr.as_str()), (1, ""));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["error"]["name"], "ERROR");
    assert_eq!(v["error"]["code"], 1);
}

#[test]
fn usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let p = home.path();
    check(
        p,
        &["pull", "org/model", "out"],
        "",
        2,
        "",
        "pqreg: error: reference \"org/model\" names no registry host: write it as host[:port]/org/model (e.g. localhost:5000/org/model) or set PQREG_REGISTRY\n\
         pqreg: hint: Write references as host[:port]/repo[:tag][@sha256:<64 hex>], e.g. localhost:5000/org/model:v1.\n",
    );
    for args in [
        &["bogus"][..],
        &["keygen"],
        &["keygen", "--sign", "--recipient"],
        &["push", "dir"],
        &["log", "search", "localhost:5000"],
        &["-o", "yaml", "env"],
    ] {
        let r = pqreg(p, args, "");
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, "", "{args:?}");
        assert!(r.stderr.starts_with("error: "), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn keygen_writes_pem_files() {
    let home = tempfile::tempdir().unwrap();
    let p = home.path();
    let r = pqreg(p, &["keygen", "--sign"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "pqreg: wrote ml-dsa-65 key pqreg-sign.key (private, 0600) and pqreg-sign.pub\n"
    );
    // stdout is the key ID alone, and it is the ID of the written public key.
    let id = r.stdout.trim_end();
    let public = pqreg::keyfile::load_public(&p.join("pqreg-sign.pub")).unwrap();
    assert_eq!(id, public.key_id().to_string());
    assert_eq!(r.stdout, format!("{id}\n"));
    // Never overwritten without --force.
    let before = std::fs::read(p.join("pqreg-sign.key")).unwrap();
    check(
        p,
        &["keygen", "--sign"],
        "",
        1,
        "",
        "pqreg: error: pqreg-sign.key already exists (pass --force to overwrite it, or choose another --out)\n\
         pqreg: hint: Fix the cause named in the message and run the command again; `pqreg env` shows the paths and credentials in use.\n",
    );
    assert_eq!(std::fs::read(p.join("pqreg-sign.key")).unwrap(), before);
    let r = pqreg(p, &["keygen", "--sign", "--force"], "");
    assert_eq!(r.code, 0);
    assert_ne!(std::fs::read(p.join("pqreg-sign.key")).unwrap(), before);
    check(
        p,
        &["keygen", "--recipient", "--alg", "ml-dsa-87"],
        "",
        2,
        "",
        "pqreg: error: --alg ml-dsa-87 is not a --recipient algorithm\npqreg: hint: With --recipient, --alg is one of: x-wing, ml-kem-1024.\n",
    );
    let r = pqreg(
        p,
        &[
            "-o",
            "json",
            "keygen",
            "--recipient",
            "--alg",
            "ml-kem-1024",
            "--out",
            "keys/r",
        ],
        "",
    );
    // The directory must exist: an I/O error, not a silent mkdir.
    assert_eq!(r.code, 1, "{}", r.stdout);
    std::fs::create_dir(p.join("keys")).unwrap();
    let r = pqreg(
        p,
        &[
            "-o",
            "json",
            "keygen",
            "--recipient",
            "--alg",
            "ml-kem-1024",
            "--out",
            "keys/r",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["alg"], "ml-kem-1024");
    assert_eq!(v["kind"], "recipient");
    let private = pqreg::keyfile::load_private(&p.join("keys/r.key"), None).unwrap();
    assert_eq!(v["key_id"], private.key_id().unwrap().to_string());
    // An empty passphrase file: refused before any key is written.
    std::fs::write(p.join("empty"), "").unwrap();
    check(
        p,
        &["keygen", "--recipient", "--passphrase-file", "empty"],
        "",
        1,
        "",
        "pqreg: error: passphrase file empty is empty\n\
         pqreg: hint: Fix the cause named in the message and run the command again; `pqreg env` shows the paths and credentials in use.\n",
    );
    assert!(!p.join("pqreg-recipient.key").exists());
}

#[test]
fn exit_codes_doc_matches_binary() {
    let home = tempfile::tempdir().unwrap();
    let r = pqreg(home.path(), &["exit-codes"], "");
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout, include_str!("../EXIT_CODES.md"));
}
