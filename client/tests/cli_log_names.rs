//! Issue 15 §5 from the client's side (spec/transparency-log.md §3.2, §9): a registry that
//! logs repositories by keyed ids (`log.entry_names = "hashed"`). The real `pqreg` binary
//! against the real registry:
//!
//! - push (which checks its own submission's entry) and pull by tag with the log check on
//!   both verify the keyed entry with the name key fetched from the registry; `pqreg log
//!   search --repo` and `log monitor --repo` find the repository's keyed entries;
//! - a registry (here a forwarder in front of the real one) that hands out another
//!   repository's name key for `models/tiny` cannot make the entry pass: the ids do not
//!   match and the pull is refused (exit 13), as an entry naming another repository is.
#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};

use crate::cli_common::{pqreg, tiny};
use crate::model_common::{Keys, exits, json, policy, show};
use crate::registry_common::{Registry, start_in_env};

fn push(k: &Keys, r: &str) -> String {
    let v = json(
        k.h(),
        &[
            "push",
            tiny().to_str().unwrap(),
            r,
            "--recipient",
            &k.p("a.pub"),
            "--sign-key",
            &k.p("signer.key"),
        ],
    );
    v["digest"].as_str().unwrap().to_owned()
}

fn pull(k: &Keys, r: &str, out: &str) -> std::process::Output {
    let out = k.p(out);
    let (id, trust) = (k.p("a.key"), k.p("trust.toml"));
    pqreg(
        k.h(),
        &[
            "-o",
            "json",
            "pull",
            r,
            &out,
            "--identity",
            &id,
            "--policy",
            &trust,
        ],
    )
}

/// Replaces `from` by `to` (same length) in `buf[..n]`.
fn swap(buf: &mut [u8], n: usize, from: &[u8], to: &[u8]) {
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

/// A forwarder to `upstream` that asks for `models/evil`'s name key when the client asks
/// for `models/tiny`'s, and relabels the answer (same lengths, so nothing else changes).
fn lying_forwarder(upstream: &str) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let upstream = upstream.to_owned();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(down) = conn else { continue };
            let Ok(up) = TcpStream::connect(&upstream) else {
                continue;
            };
            let pipe =
                |mut from: TcpStream, mut to: TcpStream, a: &'static [u8], b: &'static [u8]| {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 64 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            swap(&mut buf, n, a, b);
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                };
            pipe(
                down.try_clone().unwrap(),
                up.try_clone().unwrap(),
                b"/v2/models/tiny/_pqreg/log-name-key",
                b"/v2/models/evil/_pqreg/log-name-key",
            );
            pipe(
                up,
                down,
                b"\"repository\":\"models/evil\"",
                b"\"repository\":\"models/tiny\"",
            );
        }
    });
    addr
}

#[test]
fn keyed_log_entries_verify_with_the_registrys_name_key_and_only_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let reg: Registry = start_in_env(
        dir.path(),
        &[("PQREG_REGISTRY__LOG__ENTRY_NAMES", "hashed")],
    );
    let k = Keys::new();
    let trust = k.h().join("trust.toml");
    let lying = lying_forwarder(&reg.addr);
    policy(&trust, &k.h().join("signer.pub"), &[&reg]);
    // The signer is trusted under the forwarder's host too, statements signed for the
    // registry are admitted there, and the registry's log vouches for it.
    let mut text = std::fs::read_to_string(&trust).unwrap();
    text = text.replacen(
        &format!("repositories = [\"{}/**\"]", reg.addr),
        &format!("repositories = [\"{}/**\", \"{lying}/**\"]", reg.addr),
        1,
    );
    text = text.replacen(
        &format!("registries = [\"{}\"]", reg.addr),
        &format!("registries = [\"{}\", \"{lying}\"]", reg.addr),
        1,
    );
    text.push_str(&format!(
        "\n[[mirrors]]\npull = \"{lying}/models\"\nsigned = \"{}/models\"\n",
        reg.addr
    ));
    std::fs::write(&trust, &text).unwrap();

    let r = format!("{}/models/tiny:v1", reg.addr);
    push(&k, &r);
    // Another repository, so that it has a name key of its own.
    push(&k, &format!("{}/models/evil:v1", reg.addr));
    // The log names neither repository.
    let cp = ureq::get(format!("http://{}/log/checkpoint", reg.addr))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let size: u64 = cp.lines().nth(1).unwrap().parse().unwrap();
    let bundle = ureq::get(format!("http://{}/log/tile/entries/000.p/{size}", reg.addr))
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    let text = String::from_utf8_lossy(&bundle);
    assert!(text.contains("repository-id "), "{text}");
    assert!(!text.contains("models/"), "{text}");

    // The puller fetches the key and the keyed entry verifies.
    let o = pull(&k, &r, "out1");
    assert!(o.status.success(), "{}", show(&o));

    // `pqreg log search --repo` and `log monitor --repo` recognise the keyed entries of
    // models/tiny (its tag move and its signature) by the ids under its key, and only those.
    let trust_s = trust.to_str().unwrap();
    let found = json(
        k.h(),
        &[
            "log",
            "search",
            &reg.addr,
            "--policy",
            trust_s,
            "--repo",
            "models/tiny",
        ],
    );
    let hits = found["entries"].as_array().unwrap();
    let kinds: Vec<&str> = hits
        .iter()
        .map(|e| e["fields"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["tag", "signature"], "{found}");
    assert!(
        hits.iter().all(|e| e["fields"]["repository"]
            .as_str()
            .unwrap()
            .starts_with("id:")),
        "{found}"
    );
    let m = json(
        k.h(),
        &[
            "log",
            "monitor",
            &reg.addr,
            "--policy",
            trust_s,
            "--repo",
            "models/tiny",
        ],
    );
    let reasons: Vec<&str> = m["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["watched-repository", "watched-repository"], "{m}");

    // Through the forwarder that swaps in models/evil's key: refused.
    let via = format!("{lying}/models/tiny:v1");
    let e = exits(&pull(&k, &via, "out2"), 13);
    assert!(e.contains("repository is id:"), "{e}");
    assert!(!k.h().join("out2").exists());
}
