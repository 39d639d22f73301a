//! What the `pqreg` binary says when something is wrong, against the real
//! `pqreg-registry` on 127.0.0.1 (issue 16, "Messages and JSON"): the user's own paths and
//! references in messages, key IDs written as `sha256:…`, and the exit codes of
//! client/EXIT_CODES.md for "not found" (3), "already exists" (4) and "unreachable" (5).
#![allow(clippy::unwrap_used)]

use crate::cli_common::pqreg;
use crate::model_common::{Keys, exits, policy, show};
use crate::registry_common::start_with_origin;

#[test]
fn messages_name_what_the_user_gave_and_exit_codes_say_what_failed() {
    let reg = start_with_origin("models.test/log");
    let k = Keys::new();
    let h = k.h();
    policy(&h.join("trust.toml"), &h.join("signer.pub"), &[&reg]);
    let pushed = k.push(&reg, "models/tiny:v1", "a", "signer");
    // push says `bytes`, as pull and verify do (k.push checks the documented shape).
    assert!(pushed["bytes"].as_u64().unwrap() > 0, "{pushed}");
    assert!(pushed.get("model_bytes").is_none(), "{pushed}");
    let r = format!("{}/models/tiny:v1", reg.addr);
    let trust = k.p("trust.toml");
    let id = k.p("a.key");

    // A missing parent directory: the message names the path given, not the staging name.
    let out = h.join("missing").join("out");
    let o = pqreg(
        h,
        &[
            "pull",
            &r,
            out.to_str().unwrap(),
            "--identity",
            &id,
            "--policy",
            &trust,
        ],
    );
    let err = exits(&o, 1);
    assert!(
        err.contains(&format!(
            "cannot pull into {}: its parent directory {} does not exist",
            out.display(),
            h.join("missing").display()
        )),
        "{err}"
    );
    assert!(!err.contains("pqreg-partial"), "{err}");
    assert!(!h.join("missing").exists());

    // No identity for an encrypted model: the recipients' key IDs as inspect prints them.
    let o = pqreg(h, &["pull", &r, &k.p("out-noid"), "--policy", &trust]);
    let err = exits(&o, 14);
    assert!(
        err.contains(&format!(
            "the model is encrypted to {}; pass an identity",
            k.key_id("a")
        )),
        "{err}"
    );
    assert!(!err.contains("KeyId("), "{err}");

    // Not found (3): a tag and a digest the registry does not have; a digest is written
    // repository@digest.
    let o = pqreg(
        h,
        &[
            "pull",
            &format!("{}/models/tiny:nope", reg.addr),
            &k.p("out-nope"),
            "--identity",
            &id,
            "--policy",
            &trust,
        ],
    );
    let err = exits(&o, 3);
    assert!(err.contains("models/tiny:nope"), "{err}");
    let missing = format!("sha256:{}", "0".repeat(64));
    let o = pqreg(
        h,
        &["inspect", &format!("{}/models/tiny@{missing}", reg.addr)],
    );
    let err = exits(&o, 3);
    assert!(err.contains(&format!("models/tiny@{missing}")), "{err}");
    assert!(!err.contains(&format!("models/tiny:{missing}")), "{err}");
    assert!(!h.join("out-nope").exists());

    // Already exists (4): a pull onto a file; nothing is changed.
    std::fs::write(h.join("taken"), b"mine").unwrap();
    let o = pqreg(
        h,
        &[
            "pull",
            &r,
            &k.p("taken"),
            "--identity",
            &id,
            "--policy",
            &trust,
        ],
    );
    let err = exits(&o, 4);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(h.join("taken")).unwrap(), b"mine");

    // JSON errors carry the same code and name.
    let o = pqreg(
        h,
        &[
            "-o",
            "json",
            "pull",
            &r,
            &k.p("taken"),
            "--identity",
            &id,
            "--policy",
            &trust,
        ],
    );
    assert_eq!(o.status.code(), Some(4), "{}", show(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["name"], "ALREADY_EXISTS", "{v}");
}

#[test]
fn an_unreachable_registry_exits_5() {
    let k = Keys::new();
    let h = k.h();
    // Nothing listens on the discard port of the loopback address.
    let o = pqreg(h, &["inspect", "127.0.0.1:9/models/tiny:v1"]);
    let err = exits(&o, 5);
    assert!(err.contains("127.0.0.1:9"), "{err}");
}

/// Progress bars: drawn on stderr when it is a terminal (a pty from util-linux `script`),
/// never with `--quiet`, `-o json` or when stderr is a pipe.
#[test]
fn progress_only_on_a_terminal() {
    let reg = start_with_origin("models.test/log");
    let k = Keys::new();
    let h = k.h();
    policy(&h.join("trust.toml"), &h.join("signer.pub"), &[&reg]);
    k.push(&reg, "models/tiny:v1", "a", "signer");
    let r = format!("{}/models/tiny:v1", reg.addr);
    let on_a_terminal = |flags: &str, out: &str| {
        let cmd = format!(
            "{} {flags} pull {r} {} --identity {} --policy {}",
            env!("CARGO_BIN_EXE_pqreg"),
            k.p(out),
            k.p("a.key"),
            k.p("trust.toml"),
        );
        let o = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("HOME", h)
            .env("XDG_CACHE_HOME", h.join("cache"))
            .env("XDG_CONFIG_HOME", h.join("config"))
            .env("XDG_STATE_HOME", h.join("state"))
            .env("DOCKER_CONFIG", h.join("docker"))
            .output()
            .expect("util-linux `script` runs the command on a pseudo-terminal");
        assert!(o.status.success(), "{}", show(&o));
        assert!(h.join(out).is_dir(), "{}", show(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let drawn = on_a_terminal("", "out-tty");
    assert!(
        drawn.contains("downloading [") && drawn.contains("writing ["),
        "{drawn}"
    );
    assert!(drawn.contains("B/s"), "{drawn}");
    for (flags, out) in [("--quiet", "out-quiet"), ("-o json", "out-json")] {
        let t = on_a_terminal(flags, out);
        assert!(!t.contains("downloading ["), "{flags}: {t}");
    }
    let o = pqreg(
        h,
        &[
            "pull",
            &r,
            &k.p("out-pipe"),
            "--identity",
            &k.p("a.key"),
            "--policy",
            &k.p("trust.toml"),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("downloading ["));
}
