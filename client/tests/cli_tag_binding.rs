//! Issue 12 point 2 (spec/signing.md §3.1, §6, §7 step 7, §7.5): the signed statement
//! binds the repository, tag, version and signing time, and pull checks them. Attacks
//! over real HTTP against the real `pqreg-registry` and the real `pqreg` binary:
//!
//! - `:latest` moved back to an older build signed by the same key: refused (exit 16),
//!   accepted with `--allow-rollback`, and the mark is not lowered;
//! - a statement signed for tag A served under tag B: refused (15); by digest it pulls;
//! - `pqreg copy` of another repository's signed model onto `team/model:latest` by
//!   someone without the signing key: refused (15), by tag and by digest; a `[[mirrors]]`
//!   rule admits a copy under the same tag;
//! - a signature older than the policy's `max_age`: refused (17);
//! - a log entry of registry A served by B (a mirror the policy admits for the
//!   statement): refused (13) unless the policy says A's log vouches for B.
//!
//! Each of them pulled successfully before the binding existed.
#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

use pqreg::pack::{PackOptions, pack_model};
use pqreg::registry_io::RegistrySink;
use pqreg::tlog::{LogClient, Submitter};
use pqreg::transfer::{RegistryClient, TransferOptions};
use pqreg_spec::keys::PrivateKey;
use pqreg_spec::statement::Binding;
use serde_json::Value;

use crate::cli_common::{pqreg, tiny};
use crate::model_common::{Keys, exits, json, policy, show};
use crate::registry_common::{Registry, start, start_with_origin};

fn client(reg: &Registry) -> RegistryClient {
    RegistryClient::new(&reg.addr, None, TransferOptions::default()).unwrap()
}

/// What an attacker with push rights does: put the manifest `from` names under `tag`.
fn move_tag(reg: &Registry, repo: &str, from: &str, tag: &str) {
    let c = client(reg);
    let m = c.get_manifest(repo, from).unwrap();
    c.put_manifest(repo, tag, &m.bytes, &m.media_type).unwrap();
}

fn push(k: &Keys, dir: &Path, r: &str) -> String {
    let v = json(
        k.h(),
        &[
            "push",
            dir.to_str().unwrap(),
            r,
            "--recipient",
            &k.p("a.pub"),
            "--sign-key",
            &k.p("signer.key"),
        ],
    );
    v["digest"].as_str().unwrap().to_owned()
}

fn pull(k: &Keys, r: &str, out: &str, extra: &[&str]) -> std::process::Output {
    let out = k.p(out);
    let (id, trust) = (k.p("a.key"), k.p("trust.toml"));
    let mut args = vec!["-o", "json", "pull", r, &out, "--identity", &id];
    args.extend(["--policy", &trust]);
    args.extend(extra);
    pqreg(k.h(), &args)
}

fn code(o: &std::process::Output) -> Option<i32> {
    o.status.code()
}

/// A copy of the tiny model with one file changed: another build.
fn build(dir: &Path, n: u8) {
    for e in std::fs::read_dir(tiny()).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    std::fs::write(dir.join("build.txt"), [b'0' + n]).unwrap();
}

#[test]
fn rollback_and_tag_substitution_are_refused() {
    let reg = start();
    let k = Keys::new();
    policy(
        &k.h().join("trust.toml"),
        &k.h().join("signer.pub"),
        &[&reg],
    );
    let latest = format!("{}/models/tiny:latest", reg.addr);
    let (old, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    build(old.path(), 1);
    build(new.path(), 2);

    // The old (debug) build, then the release, both signed by the trusted key.
    let d_old = push(&k, old.path(), &latest);
    move_tag(&reg, "models/tiny", "latest", "debug-keep");
    let d_new = push(&k, new.path(), &latest);
    assert_ne!(d_old, d_new);
    let o = pull(&k, &latest, "out1", &[]);
    assert!(o.status.success(), "{}", show(&o));

    // The tag moved back to the old build: refused, and nothing is written.
    move_tag(&reg, "models/tiny", &d_old, "latest");
    let o = pull(&k, &latest, "out2", &[]);
    let e = exits(&o, 16);
    assert!(e.contains("not newer than version"), "{e}");
    assert!(!k.h().join("out2").exists());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["name"], "ROLLBACK");
    // Asked for: accepted; the mark stays at the newer version.
    let o = pull(&k, &latest, "out3", &["--allow-rollback"]);
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(code(&pull(&k, &latest, "out4", &[])), Some(16));
    // The same version with another manifest is refused too: the release's statement
    // is bound to its manifest, so the tag back on it passes.
    move_tag(&reg, "models/tiny", &d_new, "latest");
    let o = pull(&k, &latest, "out5", &[]);
    assert!(o.status.success(), "{}", show(&o));

    // A statement signed for tag `a` served under tag `b`.
    let ra = format!("{}/models/tiny:a", reg.addr);
    let d_a = push(&k, &tiny(), &ra);
    move_tag(&reg, "models/tiny", "a", "b");
    let o = pull(&k, &format!("{}/models/tiny:b", reg.addr), "out6", &[]);
    let e = exits(&o, 15);
    assert!(e.contains("signed for tag \"a\""), "{e}");
    // By digest, any tag of the repository it was signed for.
    let o = pull(&k, &format!("{}/models/tiny@{d_a}", reg.addr), "out7", &[]);
    assert!(o.status.success(), "{}", show(&o));
}

#[test]
fn a_copy_to_another_repository_needs_a_mirror_rule() {
    let reg = start();
    let k = Keys::new();
    policy(
        &k.h().join("trust.toml"),
        &k.h().join("signer.pub"),
        &[&reg],
    );
    let exp = format!("{}/models/experimental:v1", reg.addr);
    let d = push(&k, &tiny(), &exp);

    // Someone with push rights and no signing key copies it onto team/model:latest
    // (re-logged for the destination, with the signer's public key).
    let team = format!("{}/team/model:latest", reg.addr);
    let o = pqreg(
        k.h(),
        &["copy", &exp, &team, "--signer-pub", &k.p("signer.pub")],
    );
    assert!(o.status.success(), "{}", show(&o));
    let e = exits(&pull(&k, &team, "out1", &[]), 15);
    assert!(e.contains("signed for repository"), "{e}");
    let by_digest = format!("{}/team/model@{d}", reg.addr);
    assert_eq!(code(&pull(&k, &by_digest, "out2", &[])), Some(15));

    // A mirror rule admits statements signed for models/experimental under team/model,
    // with the tag they were signed for.
    let mut text = std::fs::read_to_string(k.h().join("trust.toml")).unwrap();
    text.push_str(&format!(
        "\n[[mirrors]]\npull = \"{0}/team/model\"\nsigned = \"{0}/models/experimental\"\n",
        reg.addr
    ));
    std::fs::write(k.h().join("trust.toml"), text).unwrap();
    assert_eq!(code(&pull(&k, &team, "out3", &[])), Some(15), "tag differs");
    let team_v1 = format!("{}/team/model:v1", reg.addr);
    let o = pqreg(
        k.h(),
        &["copy", &exp, &team_v1, "--signer-pub", &k.p("signer.pub")],
    );
    assert!(o.status.success(), "{}", show(&o));
    let o = pull(&k, &team_v1, "out4", &[]);
    assert!(o.status.success(), "{}", show(&o));
}

#[test]
fn a_stale_signature_is_refused() {
    let reg = start();
    let k = Keys::new();
    let trust = k.h().join("trust.toml");
    policy(&trust, &k.h().join("signer.pub"), &[&reg]);
    let text = std::fs::read_to_string(&trust).unwrap();
    std::fs::write(
        &trust,
        text.replacen("version = 1\n", "version = 1\nmax_age = \"30d\"\n", 1),
    )
    .unwrap();

    // Signed 40 days ago (the client library lets a test choose the time; the CLI
    // always signs now), logged like a push.
    let PrivateKey::Signing(signer) =
        pqreg::keyfile::load_private(&k.h().join("signer.key"), None).unwrap()
    else {
        panic!("not a signing key")
    };
    let PrivateKey::Recipient(a) =
        pqreg::keyfile::load_private(&k.h().join("a.key"), None).unwrap()
    else {
        panic!("not a recipient key")
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let c = client(&reg);
    let cache = tempfile::tempdir().unwrap();
    let mut sink = RegistrySink::new(&c, "models/old", cache.path()).unwrap();
    let log = LogClient::for_registry(&reg.addr, None).unwrap();
    let mut hook = Submitter {
        client: &log,
        repository: "models/old".into(),
        tag: Some("v1".into()),
        public_key: signer.verifying_key().to_spki_der(),
        policy: None,
        state: cache.path().join("state"),
    };
    let rcpt = [a.public_key().unwrap()];
    let mut opts = PackOptions::new(&signer);
    opts.recipients = &rcpt;
    opts.tag = Some("v1".into());
    opts.log_hook = Some(&mut hook);
    opts.binding = Some(Binding {
        repository: format!("{}/models/old", reg.addr),
        tag: Some("v1".into()),
        version: (now - 40 * 86_400) * 1000,
        signed_at: now - 40 * 86_400,
    });
    pack_model(&tiny(), &mut opts, &mut sink).unwrap();

    let old = format!("{}/models/old:v1", reg.addr);
    let e = exits(&pull(&k, &old, "out1", &[]), 17);
    assert!(e.contains("more than 2592000 seconds"), "{e}");
    // A fresh signature under the same policy passes.
    let fresh = format!("{}/models/fresh:v1", reg.addr);
    push(&k, &tiny(), &fresh);
    let o = pull(&k, &fresh, "out2", &[]);
    assert!(o.status.success(), "{}", show(&o));
}

/// A TCP forwarder: everything sent to its address goes to `upstream` and back (a
/// mirror of registry A under another host:port).
fn forwarder(upstream: &str) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let upstream = upstream.to_owned();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(down) = conn else { continue };
            let Ok(up) = TcpStream::connect(&upstream) else {
                continue;
            };
            let pipe = |mut from: TcpStream, mut to: TcpStream| {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            };
            pipe(down.try_clone().unwrap(), up.try_clone().unwrap());
            pipe(up, down);
        }
    });
    addr
}

#[test]
fn a_log_entry_of_another_registry_is_refused() {
    let a = start_with_origin("a.test/log");
    let k = Keys::new();
    let trust = k.h().join("trust.toml");
    let mirror = forwarder(&a.addr);
    // The policy trusts the signer everywhere it looks, configures A's log (vouching for
    // A only), and admits statements signed for A under the mirror's host.
    policy(&trust, &k.h().join("signer.pub"), &[&a]);
    let mut text = std::fs::read_to_string(&trust).unwrap();
    text = text.replacen(
        &format!("repositories = [\"{}/**\"]", a.addr),
        &format!("repositories = [\"{}/**\", \"{mirror}/**\"]", a.addr),
        1,
    );
    text.push_str(&format!(
        "\n[[mirrors]]\npull = \"{mirror}/models\"\nsigned = \"{}/models\"\n",
        a.addr
    ));
    std::fs::write(&trust, &text).unwrap();
    let r = format!("{}/models/tiny:v1", a.addr);
    push(&k, &tiny(), &r);
    let o = pull(&k, &r, "out1", &[]);
    assert!(o.status.success(), "{}", show(&o));

    // Through the mirror: the statement is admitted, A's log entry is not.
    let via = format!("{mirror}/models/tiny:v1");
    let e = exits(&pull(&k, &via, "out2", &[]), 13);
    assert!(e.contains("not for"), "{e}");
    // Once the policy says A's log vouches for the mirror too, it verifies.
    std::fs::write(
        &trust,
        text.replacen(
            &format!("registries = [\"{}\"]", a.addr),
            &format!("registries = [\"{}\", \"{mirror}\"]", a.addr),
            1,
        ),
    )
    .unwrap();
    let o = pull(&k, &via, "out3", &[]);
    assert!(o.status.success(), "{}", show(&o));
}
