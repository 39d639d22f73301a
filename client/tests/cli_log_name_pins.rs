//! Attack finding F3 (/work/attack2/REPORT.md; spec/transparency-log.md §10): a registry
//! that logs `models/tiny` by keyed ids (`log.entry_names = "hashed"`) and then, through
//! a front its operator controls, denies or swaps the repository's log name key, must
//! not make `pqreg log monitor --repo` (or `log search --repo`) report nothing, exit 0
//! and move past the entries it could not recognise. The real `pqreg` binary against
//! the real registry, behind fronts that rewrite bytes on the wire:
//!
//! - a front that turns the name-key request into a 404, and one that garbles the answer:
//!   monitor and search fail (13), the monitor keeps its position, and the next run
//!   through the registry itself still reports the rogue signature (`unexpected-signer`);
//! - a front that hands out another repository's key after the first run pinned the
//!   real one: monitor and search fail naming the pin, the position is kept, and a 404
//!   for the pinned repository fails even under `--repo-by-name`;
//! - an auditor without pull access (401 for the key, attack attempt 9): monitor and
//!   search fail (1) and say to log in; once it has credentials, the monitor reports
//!   every entry it could not attribute before. A public repository (no key, 404) in
//!   the same log is watched with `--repo-by-name`, and only so.
#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};

use crate::log_common::*;
use crate::registry_common::{Registry, start_in_env};

use base64::Engine as _;

/// Replaces every `from` by `to` (same length) in `buf[..n]`.
fn swap(buf: &mut [u8], n: usize, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut i = 0;
    while i + from.len() <= n {
        if &buf[i..i + from.len()] == from {
            buf[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
}

type Swaps = &'static [(&'static [u8], &'static [u8])];

/// A TCP forwarder to `upstream` that rewrites the bytes of requests and answers as
/// told (equal lengths, so HTTP framing is untouched): the operator's front. Returns
/// its address.
fn front(upstream: &str, requests: Swaps, answers: Swaps) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let upstream = upstream.to_owned();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(down) = conn else { continue };
            let Ok(up) = TcpStream::connect(&upstream) else {
                continue;
            };
            let pipe = |mut from: TcpStream, mut to: TcpStream, swaps: Swaps| {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 64 * 1024];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        for (a, b) in swaps {
                            swap(&mut buf, n, a, b);
                        }
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            };
            pipe(down.try_clone().unwrap(), up.try_clone().unwrap(), requests);
            pipe(up, down, answers);
        }
    });
    addr
}

/// The name-key route becomes an unknown one: the registry answers 404.
const KEY_404: Swaps = &[(b"/_pqreg/log-name-key", b"/_pqreg/log-name-kez")];
/// The answer's `nameKey` field is renamed: a malformed answer.
const KEY_GARBLED: Swaps = &[(b"\"nameKey\"", b"\"nameKez\"")];
/// `models/evil`'s key is asked for and relabelled as `models/tiny`'s.
const KEY_SWAP_REQ: Swaps = &[(
    b"/v2/models/tiny/_pqreg/log-name-key",
    b"/v2/models/evil/_pqreg/log-name-key",
)];
const KEY_SWAP_ANS: Swaps = &[(
    b"\"repository\":\"models/evil\"",
    b"\"repository\":\"models/tiny\"",
)];

/// A registry that logs every repository by keyed ids, and a home trusting `signer`
/// for `*/models/*` and the registry's log.
fn keyed_registry(dir: &std::path::Path) -> (Registry, Home) {
    let reg = start_in_env(dir, &[("PQREG_REGISTRY__LOG__ENTRY_NAMES", "hashed")]);
    let h = Home::new();
    h.write_policy(&reg, None);
    (reg, h)
}

/// A push signed with the home's `other` key, which the policy does not list.
fn rogue_push(h: &Home, reg: &Registry, tag: &str) {
    let m = variant(h, &format!("rogue-{tag}"), tag);
    let o = h.push(
        &m,
        &format!("{}/models/tiny:{tag}", reg.addr),
        "other.key",
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn reasons(m: &serde_json::Value) -> Vec<String> {
    m["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs `args` in `h`; it must exit `code`. Returns stderr.
fn fails(h: &Home, args: &[&str], code: i32) -> String {
    let o = h.run(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    err
}

#[test]
fn a_denied_name_key_stops_the_monitor_without_losing_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (reg, h) = keyed_registry(dir.path());
    h.push_digest(&tiny(), &format!("{}/models/tiny:v1", reg.addr));
    rogue_push(&h, &reg, "evil");
    let monitor_state = h.state_dir(&reg).join("monitor");

    // Through the 404 front: the entries carry keyed ids, the key is denied.
    let f404 = front(&reg.addr, KEY_404, &[]);
    let err = fails(&h, &["log", "monitor", &f404, "--repo", "models/tiny"], 13);
    assert!(
        err.contains("keyed id") && err.contains("models/tiny has no log name key"),
        "{err}"
    );
    assert!(
        err.contains("--key"),
        "the hint names the keyless watch: {err}"
    );
    assert!(!monitor_state.exists(), "the monitor advanced");
    // Search likewise stops rather than find nothing (or something it cannot attribute).
    let err = fails(&h, &["log", "search", &f404, "--repo", "models/tiny"], 13);
    assert!(err.contains("models/tiny has no log name key"), "{err}");

    // A garbled answer is no key either.
    let fbad = front(&reg.addr, &[], KEY_GARBLED);
    let err = fails(&h, &["log", "monitor", &fbad, "--repo", "models/tiny"], 13);
    assert!(err.contains("could not be fetched"), "{err}");
    assert!(!monitor_state.exists(), "the monitor advanced");
    let err = fails(&h, &["log", "search", &fbad, "--repo", "models/tiny"], 13);
    assert!(err.contains("could not be fetched"), "{err}");

    // The registry itself: every entry of models/tiny is still reported, the rogue
    // signature as unexpected, and the key is pinned.
    let m = h.json(&["log", "monitor", &reg.addr, "--repo", "models/tiny"]);
    assert_eq!(
        reasons(&m),
        [
            "watched-repository",
            "watched-repository",
            "watched-repository",
            "unexpected-signer"
        ],
        "{m}"
    );
    assert!(monitor_state.exists());
    let pins: Vec<_> = std::fs::read_dir(h.state_dir(&reg).join("name-keys"))
        .unwrap()
        .collect();
    assert_eq!(pins.len(), 1);
}

#[test]
fn a_name_key_other_than_the_pinned_one_stops_the_monitor() {
    let dir = tempfile::tempdir().unwrap();
    let (reg, h) = keyed_registry(dir.path());
    h.push_digest(&tiny(), &format!("{}/models/tiny:v1", reg.addr));
    // Another repository, so that there is a second key to hand out.
    h.push_digest(
        &variant(&h, "e1", "evil"),
        &format!("{}/models/evil:v1", reg.addr),
    );
    // The first run pins models/tiny's key.
    let m = h.json(&["log", "monitor", &reg.addr, "--repo", "models/tiny"]);
    assert_eq!(
        reasons(&m),
        ["watched-repository", "watched-repository"],
        "{m}"
    );
    let monitor_state = h.state_dir(&reg).join("monitor");
    let positions = std::fs::read(&monitor_state).unwrap();

    rogue_push(&h, &reg, "v2");
    // The front hands out models/evil's key for models/tiny: under it the rogue entries
    // are not models/tiny's, so the old client reported nothing and moved on.
    let swapped = front(&reg.addr, KEY_SWAP_REQ, KEY_SWAP_ANS);
    let err = fails(
        &h,
        &["log", "monitor", &swapped, "--repo", "models/tiny"],
        13,
    );
    assert!(
        err.contains("another log name key for models/tiny") && err.contains("pinned"),
        "{err}"
    );
    assert_eq!(std::fs::read(&monitor_state).unwrap(), positions);
    let err = fails(
        &h,
        &["log", "search", &swapped, "--repo", "models/tiny"],
        13,
    );
    assert!(
        err.contains("another log name key for models/tiny"),
        "{err}"
    );
    // A 404 for a repository whose key is pinned fails too, even when the user says the
    // repository is logged by name.
    let f404 = front(&reg.addr, KEY_404, &[]);
    let err = fails(
        &h,
        &["log", "monitor", &f404, "--repo-by-name", "models/tiny"],
        13,
    );
    assert!(err.contains("pinned before"), "{err}");
    assert_eq!(std::fs::read(&monitor_state).unwrap(), positions);

    // The registry itself: the rogue push is reported.
    let m = h.json(&["log", "monitor", &reg.addr, "--repo", "models/tiny"]);
    assert_eq!(
        reasons(&m),
        ["watched-repository", "unexpected-signer"],
        "{m}"
    );
}

/// Basic credentials for `host` in `h`'s docker config.
fn credentials(h: &Home, host: &str, user: &str, password: &str) {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let dir = h.path().join("docker");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
    )
    .unwrap();
}

#[test]
fn an_auditor_without_the_key_is_told_to_log_in_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("htpasswd");
    std::fs::write(
        &pw,
        format!("alice:{}\n", bcrypt::hash("alice-pw", 4).unwrap()),
    )
    .unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // Access rules, no anonymous pull: `auto` logs models/tiny by keyed ids; the log's
    // read API stays public.
    let reg = start_in_env(
        &data,
        &[
            ("PQREG_REGISTRY__AUTH__MODE", "basic"),
            ("PQREG_REGISTRY__AUTH__HTPASSWD", pw.to_str().unwrap()),
            (
                "PQREG_REGISTRY__AUTH__RULES",
                r#"[{repositories = ["models/**", "public/**"], users = ["alice"], actions = ["pull", "push"]}, {repositories = ["public/**"], anonymous = true, actions = ["pull"]}]"#,
            ),
        ],
    );
    let alice = Home::new();
    credentials(&alice, &reg.addr, "alice", "alice-pw");
    alice.write_policy(&reg, None);
    alice.push_digest(&tiny(), &format!("{}/models/tiny:v1", reg.addr));
    rogue_push(&alice, &reg, "evil");
    // A public repository: logged by name, it has no name key (404).
    alice.push_digest(
        &variant(&alice, "pub", "public"),
        &format!("{}/public/m:v1", reg.addr),
    );

    let auditor = Home::new();
    // Trust alice's key, not the auditor's own, for models/*.
    std::fs::copy(
        alice.path().join("signer.pub"),
        auditor.path().join("signer.pub"),
    )
    .unwrap();
    auditor.write_policy(&reg, None);
    let monitor_state = auditor.state_dir(&reg).join("monitor");
    let err = fails(
        &auditor,
        &["log", "monitor", &reg.addr, "--repo", "models/tiny"],
        1,
    );
    assert!(
        err.contains("keyed id")
            && err.contains("could not be fetched")
            && err.contains("pqreg login"),
        "{err}"
    );
    assert!(!monitor_state.exists(), "the monitor advanced");
    let err = fails(
        &auditor,
        &["log", "search", &reg.addr, "--repo", "models/tiny"],
        1,
    );
    assert!(err.contains("pqreg login"), "{err}");

    // Watching the public repository: the registry's "no key" cannot be told from a
    // denial while keyed entries are read, unless the auditor says it is logged by name.
    let err = fails(
        &auditor,
        &["log", "monitor", &reg.addr, "--repo", "public/m"],
        13,
    );
    assert!(err.contains("--repo-by-name public/m"), "{err}");
    let m = auditor.json(&["log", "monitor", &reg.addr, "--repo-by-name", "public/m"]);
    // (The policy lets alice's key sign models/* only.)
    assert_eq!(
        reasons(&m),
        ["watched-repository", "unexpected-signer"],
        "{m}"
    );

    credentials(&auditor, &reg.addr, "alice", "alice-pw");
    let m = auditor.json(&["log", "monitor", &reg.addr, "--repo", "models/tiny"]);
    assert_eq!(
        reasons(&m),
        [
            "watched-repository",
            "watched-repository",
            "watched-repository",
            "unexpected-signer"
        ],
        "{m}"
    );
}
