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
    let trust_s = k.p("trust.toml");
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
    // Offline, from the layout and proof `log proof` writes, the same (finding F2).
    let (proof, layout) = (k.p("old.tlog-proof"), k.p("old-layout"));
    let o = pqreg(
        k.h(),
        &[
            "log", "proof", &old, "--out", &proof, "--layout", &layout, "--policy", &trust_s,
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    let o = pull(
        &k,
        &old,
        "out1",
        &["--offline", "--layout", &layout, "--proof", &proof],
    );
    let e = exits(&o, 17);
    assert!(e.contains("more than 2592000 seconds"), "{e}");
    assert!(!k.h().join("out1").exists());
    // Attack finding G3: the same manifest signed (freshly) for seven other tags. Which
    // bundle the registry lists first must not decide the answer: the stale signature for
    // v1 is what the pull is refused for (17), not another tag's (15).
    for t in 1..=7 {
        let o = pqreg(
            k.h(),
            &[
                "tag",
                &old,
                &format!("t{t}"),
                "--sign-key",
                &k.p("signer.key"),
            ],
        );
        assert!(o.status.success(), "{}", show(&o));
    }
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

/// Finding F1 (spec/signing.md §7.2): `pqreg tag` and `pqreg recipients` sign anew what a
/// tag names now, and anyone with push rights can move a tag. Moved back below the
/// version the signer pushed, the signer's re-signature would hand pullers the old build
/// under a fresh version, newer than anything they saw. Both commands refuse (16), with
/// and without `--policy`, and change nothing; by digest the signer chooses the version.
#[test]
fn re_signing_refuses_a_tag_moved_back_below_what_the_signer_saw() {
    let reg = start();
    let k = Keys::new();
    policy(
        &k.h().join("trust.toml"),
        &k.h().join("signer.pub"),
        &[&reg],
    );
    let (old, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    build(old.path(), 1);
    build(new.path(), 2);
    let v1 = format!("{}/models/tiny:v1", reg.addr);
    let d_old = push(&k, old.path(), &v1);
    let d_new = push(&k, new.path(), &v1);
    assert_ne!(d_old, d_new);

    // Someone with push rights moves v1 back to the old build.
    move_tag(&reg, "models/tiny", &d_old, "v1");
    let signer = k.p("signer.key");
    let trust = k.p("trust.toml");
    let (b_pub, a_key) = (k.p("b.pub"), k.p("a.key"));
    for extra in [&[][..], &["--policy", &trust][..]] {
        let mut a = vec!["tag", &v1, "stable", "--sign-key", &signer];
        a.extend(extra);
        // The log's newer signature for v1 (or, without a log, this machine's record).
        let e = exits(&pqreg(k.h(), &a), 16);
        assert!(
            e.contains("with the newer version") || e.contains("not newer than version"),
            "{e}"
        );
        let mut a = vec!["recipients", "add", &v1, &b_pub];
        a.extend(["--identity", &a_key, "--sign-key", &signer]);
        a.extend(extra);
        exits(&pqreg(k.h(), &a), 16);
    }
    // Nothing was tagged or re-signed: `stable` does not exist, v1 still names the old
    // build with its one recipient.
    let c = client(&reg);
    assert!(c.get_manifest("models/tiny", "stable").is_err());
    assert_eq!(
        c.get_manifest("models/tiny", "v1")
            .unwrap()
            .digest
            .to_string(),
        d_old
    );
    // Named by digest, the signer chose the version: tagged.
    let by_digest = format!("{}/models/tiny@{d_new}", reg.addr);
    let o = pqreg(
        k.h(),
        &[
            "-o",
            "json",
            "tag",
            &by_digest,
            "stable",
            "--sign-key",
            &signer,
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    let o = pull(&k, &format!("{}/models/tiny:stable", reg.addr), "out", &[]);
    assert!(o.status.success(), "{}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["digest"], d_new.as_str(), "{v}");
}

/// Finding F1, second half: without `--policy` the re-signing commands used to accept
/// the signer's statement for ANY repository, so someone with push rights who copied
/// another repository's signed model in (`pqreg copy`, which a pull refuses with 15) had
/// the signer re-sign it for this repository. Refused now (15): a statement must be bound
/// to the repository it is re-signed in.
#[test]
fn re_signing_refuses_another_repositorys_model_copied_in() {
    let reg = start();
    let k = Keys::new();
    policy(
        &k.h().join("trust.toml"),
        &k.h().join("signer.pub"),
        &[&reg],
    );
    let other = format!("{}/models/other:v9", reg.addr);
    push(&k, &tiny(), &other);
    let copied = format!("{}/models/tiny:v9", reg.addr);
    let o = pqreg(
        k.h(),
        &["copy", &other, &copied, "--signer-pub", &k.p("signer.pub")],
    );
    assert!(o.status.success(), "{}", show(&o));
    exits(&pull(&k, &copied, "out1", &[]), 15);

    let signer = k.p("signer.key");
    let e = exits(
        &pqreg(k.h(), &["tag", &copied, "prod", "--sign-key", &signer]),
        15,
    );
    assert!(e.contains("signed for repository"), "{e}");
    let o = pqreg(
        k.h(),
        &[
            "recipients",
            "add",
            &copied,
            &k.p("b.pub"),
            "--identity",
            &k.p("a.key"),
            "--sign-key",
            &signer,
        ],
    );
    exits(&o, 15);
    assert!(client(&reg).get_manifest("models/tiny", "prod").is_err());
    exits(
        &pull(&k, &format!("{}/models/tiny:v9", reg.addr), "out2", &[]),
        15,
    );
}

/// Finding F2: `pull --offline` ran step 7 without the tag state, so whoever supplies the
/// layout (the operator, a mirror, the courier of the air gap) could hand a cluster that
/// had accepted a newer version the old layout and proof. Refused now (16), exactly as
/// online, and what an offline pull accepts is recorded for the online one.
#[test]
fn an_offline_pull_cannot_roll_a_tag_back() {
    let reg = start();
    let k = Keys::new();
    policy(
        &k.h().join("trust.toml"),
        &k.h().join("signer.pub"),
        &[&reg],
    );
    let (old, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    build(old.path(), 1);
    build(new.path(), 2);
    let v1 = format!("{}/models/tiny:v1", reg.addr);
    let trust = k.p("trust.toml");
    let proof = |name: &str| {
        let (out, layout) = (k.p(&format!("{name}.tlog-proof")), k.p(name));
        let o = pqreg(
            k.h(),
            &[
                "log", "proof", &v1, "--out", &out, "--layout", &layout, "--policy", &trust,
            ],
        );
        assert!(o.status.success(), "{}", show(&o));
        (layout, out)
    };
    push(&k, old.path(), &v1);
    let (l_old, p_old) = proof("old");
    push(&k, new.path(), &v1);
    let (l_new, p_new) = proof("new");

    // The cluster: its own state, the policy and its identity only.
    let air = tempfile::tempdir().unwrap();
    let offline = |layout: &str, proof: &str, out: &str| {
        let out = air.path().join(out);
        pqreg(
            air.path(),
            &[
                "-o",
                "json",
                "pull",
                &v1,
                out.to_str().unwrap(),
                "--offline",
                "--layout",
                layout,
                "--proof",
                proof,
                "--identity",
                &k.p("a.key"),
                "--policy",
                &trust,
            ],
        )
    };
    let o = offline(&l_new, &p_new, "new");
    assert!(o.status.success(), "{}", show(&o));
    let e = exits(&offline(&l_old, &p_old, "old"), 16);
    assert!(e.contains("not newer than version"), "{e}");
    assert!(!air.path().join("old").exists());
}

/// Attack finding G2: a version re-signed for more tags than a pull tries bundles (8)
/// failed for some of its own tags with 15 ("signed for tag y3, pulled as y2"),
/// depending on the registry's order of the referrers. Each bundle's referrer now
/// announces its tag, and a pull by tag tries those first: every tag pulls.
#[test]
fn a_version_with_many_tags_pulls_under_each() {
    let reg = start();
    let k = Keys::new();
    policy(
        &k.h().join("trust.toml"),
        &k.h().join("signer.pub"),
        &[&reg],
    );
    let v1 = format!("{}/models/tiny:v1", reg.addr);
    push(&k, &tiny(), &v1);
    for t in 1..=10 {
        let o = pqreg(
            k.h(),
            &[
                "tag",
                &v1,
                &format!("y{t}"),
                "--sign-key",
                &k.p("signer.key"),
            ],
        );
        assert!(o.status.success(), "{}", show(&o));
    }
    for t in 1..=10 {
        let r = format!("{}/models/tiny:y{t}", reg.addr);
        let o = pull(&k, &r, &format!("out{t}"), &[]);
        assert!(o.status.success(), "y{t}: {}", show(&o));
    }
}

/// Attack finding P1: `log proof REF:TAG --layout` exported the first ML-DSA bundle the
/// registry listed, whatever tag it was signed for, so the offline pull of TAG failed
/// with 15 for a version also tagged otherwise. It exports the bundle bound to TAG.
#[test]
fn a_log_proof_layout_carries_the_signature_of_its_tag() {
    let reg = start();
    let k = Keys::new();
    policy(
        &k.h().join("trust.toml"),
        &k.h().join("signer.pub"),
        &[&reg],
    );
    let v1 = format!("{}/models/tiny:v1", reg.addr);
    push(&k, &tiny(), &v1);
    let signer = k.p("signer.key");
    for t in 1..=7 {
        let o = pqreg(
            k.h(),
            &["tag", &v1, &format!("z{t}"), "--sign-key", &signer],
        );
        assert!(o.status.success(), "{}", show(&o));
    }
    let (proof, layout, trust) = (k.p("v1.tlog-proof"), k.p("v1-layout"), k.p("trust.toml"));
    let o = pqreg(
        k.h(),
        &[
            "log", "proof", &v1, "--out", &proof, "--layout", &layout, "--policy", &trust,
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    let o = pull(
        &k,
        &v1,
        "offline",
        &["--offline", "--layout", &layout, "--proof", &proof],
    );
    assert!(o.status.success(), "{}", show(&o));
}
