//! Nothing secret outlives a pull (issue 16), with the real `pqreg` binary against a real
//! registry process behind a TCP proxy the test controls:
//!
//! - SIGINT, SIGTERM and SIGHUP in the middle of a pull (the proxy stalls one chunk
//!   download; the test waits until the staging directory holds decrypted bytes): the
//!   staging directory is removed, no output appears, the exit code is 130, 143, 129; while
//!   the staging directory exists it is mode 0700.
//! - SIGKILL leaves the staging directory behind; the next pull of the same output removes
//!   it, but not the staging directory of a pull of that output that is still running
//!   (locked), nor a directory whose name is not exactly a staging directory's.
//! - Pulled files, executables and directories get the umask's modes (077 and 022).
//! - A pull into an existing empty directory (a Kubernetes emptyDir) fills it, keeping
//!   its mode; one into a non-empty directory is refused and writes nothing; a signal
//!   removes the staging directory inside it and leaves it empty; the same named by a
//!   relative path (it used to be refused as "not empty": the commit compared its own
//!   absolute staging path with the relative entries).
//! - `push` without `--recipient` is refused (exit 2, nothing uploaded) unless
//!   `--unencrypted` is given; `push --follow-symlinks` packs a Hugging Face cache
//!   snapshot (symlinks into `blobs/`), which is refused without it.
//!
//! And two bugs of issue 13: a download that fails while the rest of a chunk is read
//! after a bad segment is a transfer error (exit 1), not a digest mismatch (exit 10); and
//! `pull --oms-signature` whose classical bundle signs another statement fetches no chunk
//! and leaves nothing behind.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cli_common::{Home, exits, ok, policy, tiny};
use crate::registry_common;
use pqreg_spec::Digest;
use serde_json::Value;

/// What the proxy does to the answers it forwards.
#[derive(Debug, Clone)]
pub(crate) enum Rule {
    /// Forward everything.
    Pass,
    /// The first connection that carries this many bytes of answers stops forwarding and
    /// holds the connection open (a download that hangs); then [`Rule::Pass`]. Only
    /// connections opened after the rule was set count: a connection of an earlier,
    /// killed pull whose answer is still arriving from the registry must not take the
    /// stall meant for the next pull (it did, 3 runs in 8, once pulls got faster).
    StallAfter(usize),
    /// The first connection that asks for `digest` carries `after` bytes of answer from
    /// then on and is closed; every later one asking for it is closed before it answers.
    Cut {
        digest: String,
        after: usize,
        first: bool,
    },
}

/// A TCP proxy to a registry; `requests` is every byte the clients sent through it.
pub(crate) struct Proxy {
    pub(crate) addr: String,
    rule: Arc<Mutex<Rule>>,
    /// Incremented by every [`Proxy::set`]; each connection keeps the value it opened at.
    generation: Arc<AtomicU64>,
    requests: Arc<Mutex<Vec<u8>>>,
}

impl Proxy {
    pub(crate) fn start(upstream: &str) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = Proxy {
            addr: l.local_addr().unwrap().to_string(),
            rule: Arc::new(Mutex::new(Rule::Pass)),
            generation: Arc::default(),
            requests: Arc::default(),
        };
        let (rule, all) = (Arc::clone(&p.rule), Arc::clone(&p.requests));
        let generation = Arc::clone(&p.generation);
        let upstream = upstream.to_owned();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(down) = conn else { return };
                let Ok(up) = TcpStream::connect(&upstream) else {
                    return;
                };
                let conn_log: Arc<Mutex<Vec<u8>>> = Arc::default();
                let (mut d2, mut u2) = (down.try_clone().unwrap(), up.try_clone().unwrap());
                let (log, all) = (Arc::clone(&conn_log), Arc::clone(&all));
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 16 << 10];
                    while let Ok(k) = d2.read(&mut buf) {
                        if k == 0 {
                            break;
                        }
                        // Logged before forwarded: before any answer to it comes back.
                        log.lock().unwrap().extend_from_slice(&buf[..k]);
                        all.lock().unwrap().extend_from_slice(&buf[..k]);
                        if u2.write_all(&buf[..k]).is_err() {
                            break;
                        }
                    }
                    let _ = u2.shutdown(Shutdown::Write);
                });
                let rule = Arc::clone(&rule);
                let conn = Conn {
                    generation: Arc::clone(&generation),
                    born: generation.load(Ordering::SeqCst),
                };
                std::thread::spawn(move || answers(down, up, &rule, &conn_log, &conn));
            }
        });
        p
    }

    pub(crate) fn set(&self, r: Rule) {
        let mut rule = self.rule.lock().unwrap();
        *rule = r;
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Waits (60 s at most) until a [`Rule::StallAfter`] stalled its connection.
    fn wait_stalled(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while matches!(*self.rule.lock().unwrap(), Rule::StallAfter(_)) {
            assert!(Instant::now() < deadline, "no download stalled after 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn saw(&self, needle: &str) -> bool {
        let all = self.requests.lock().unwrap();
        all.windows(needle.len()).any(|w| w == needle.as_bytes())
    }
}

/// When a proxied connection was opened: the proxy's rule generation then.
struct Conn {
    generation: Arc<AtomicU64>,
    born: u64,
}

/// Forwards one connection's answers from `up` to `down` under `rule`.
fn answers(
    mut down: TcpStream,
    mut up: TcpStream,
    rule: &Mutex<Rule>,
    requests: &Mutex<Vec<u8>>,
    conn: &Conn,
) {
    let mut buf = vec![0u8; 64 << 10];
    let mut sent = 0usize;
    // For Rule::Cut: how many bytes this connection may carry in all.
    let mut allowed: Option<usize> = None;
    loop {
        let k = match up.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => k,
        };
        let mut stall = false;
        let mut n = k;
        {
            let mut r = rule.lock().unwrap();
            match &mut *r {
                Rule::Pass => {}
                Rule::StallAfter(limit) => {
                    if conn.born == conn.generation.load(Ordering::SeqCst) && sent + k >= *limit {
                        n = *limit - sent.min(*limit);
                        stall = true;
                        *r = Rule::Pass;
                    }
                }
                Rule::Cut {
                    digest,
                    after,
                    first,
                } => {
                    let asked = {
                        let q = requests.lock().unwrap();
                        q.windows(digest.len()).any(|w| w == digest.as_bytes())
                    };
                    if asked && allowed.is_none() {
                        allowed = Some(sent + if *first { *after } else { 0 });
                        *first = false;
                    }
                }
            }
        }
        if let Some(a) = allowed {
            n = n.min(a.saturating_sub(sent));
        }
        if down.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n;
        if stall {
            // Hold the connection open until the client goes away.
            let mut b = [0u8; 1024];
            while matches!(down.read(&mut b), Ok(k) if k > 0) {}
            break;
        }
        if allowed.is_some_and(|a| sent >= a) {
            break;
        }
    }
    let _ = down.shutdown(Shutdown::Both);
    let _ = up.shutdown(Shutdown::Both);
}

/// `pqreg` with the private XDG environment of `h` (what `cli_common::pqreg` sets).
fn pqreg_cmd(h: &Home, program: Option<&str>) -> Command {
    let mut c = Command::new(program.unwrap_or(env!("CARGO_BIN_EXE_pqreg")));
    let home = h.path();
    c.env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("DOCKER_CONFIG", home.join("docker"))
        .env_remove("PQREG_REGISTRY");
    c
}

fn pull_args(h: &Home, reference: &str, out: &Path) -> Vec<String> {
    vec![
        "pull".into(),
        reference.into(),
        out.to_str().unwrap().into(),
        "--identity".into(),
        h.p("rcpt.key"),
        "--policy".into(),
        h.p("trust.toml"),
    ]
}

fn spawn_pull(h: &Home, reference: &str, out: &Path) -> Child {
    pqreg_cmd(h, None)
        .args(pull_args(h, reference, out))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Deterministic bytes no compressor shrinks (xorshift64).
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// A model of a 24 MiB incompressible file (several multi-MiB chunks), an executable and
/// a file in a subdirectory.
pub(crate) fn model(dir: &Path) -> PathBuf {
    let m = dir.join("model");
    std::fs::create_dir_all(m.join("sub")).unwrap();
    std::fs::write(m.join("weights.bin"), noise(7, 24 << 20)).unwrap();
    std::fs::write(m.join("run.sh"), b"#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(m.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(m.join("sub/notes.txt"), b"notes\n").unwrap();
    m
}

/// A registry, a proxy in front of it, a home whose trust policy covers
/// `<proxy>/models/*`, and the model pushed through the proxy to `<proxy>/models/m:v1`.
struct Setup {
    _reg: registry_common::Registry,
    proxy: Proxy,
    h: Home,
    src: PathBuf,
    reference: String,
}

fn setup() -> Setup {
    let reg = registry_common::start();
    let proxy = Proxy::start(&reg.addr);
    let h = Home::new();
    policy(
        &h.path().join("trust.toml"),
        &h.path().join("signer.pub"),
        &format!("{}/models/*", proxy.addr),
    );
    let src = model(h.path());
    let reference = format!("{}/models/m:v1", proxy.addr);
    ok(&h.push(&src, &reference, "signer.key", &[]));
    Setup {
        _reg: reg,
        proxy,
        h,
        src,
        reference,
    }
}

/// The staging directories of the output `name` in `parent`.
fn staging_dirs(parent: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = format!(".{name}.pqreg-partial-");
    let mut v: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// Whether a file under `dir` has data written to it (staged files start sparse, at their
/// full length, with no blocks).
fn holds_plaintext(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => holds_plaintext(&p),
            Ok(m) if m.is_file() => m.blocks() > 0,
            _ => false,
        }
    })
}

/// Every regular file under `dir`, by relative path, with its contents.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Polls (60 s at most) until a staging directory of `out` other than `except` holds
/// decrypted bytes; returns it. Panics with the pull's output if it ended first.
fn wait_for_staging(child: &mut Child, out: &Path, except: &[PathBuf]) -> PathBuf {
    let (parent, name) = (
        out.parent().unwrap(),
        out.file_name().unwrap().to_str().unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(d) = staging_dirs(parent, name)
            .into_iter()
            .find(|d| !except.contains(d) && holds_plaintext(d))
        {
            return d;
        }
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("the pull ended ({st}) before its staging directory held data: {err}");
        }
        assert!(
            Instant::now() < deadline,
            "no staging directory with data after 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn sigint_sigterm_sighup_remove_the_staging_directory() {
    let s = setup();
    for (sig, code) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        let out = s.h.path().join(format!("out-{sig}"));
        s.proxy.set(Rule::StallAfter(2 << 20));
        let mut child = spawn_pull(&s.h, &s.reference, &out);
        let staging = wait_for_staging(&mut child, &out, &[]);
        // Nothing in it is reachable by another user while it exists.
        assert_eq!(mode(&staging), 0o700, "{}", staging.display());
        signal(&child, sig);
        let o = child.wait_with_output().unwrap();
        exits(&o, code, &format!("pull stopped by SIG{sig}"));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("stopped by SIG{sig}")) && err.contains("removed"),
            "{err}"
        );
        assert!(!staging.exists(), "SIG{sig} left {}", staging.display());
        assert_eq!(
            staging_dirs(s.h.path(), &format!("out-{sig}")),
            Vec::<PathBuf>::new()
        );
        assert!(!out.exists());
    }
    s.proxy.set(Rule::Pass);
}

#[test]
fn sigkill_leftovers_go_at_the_next_pull_but_not_a_running_pulls() {
    let s = setup();
    let out = s.h.path().join("m");
    // A pull killed with SIGKILL cannot clean up: its staging directory stays.
    s.proxy.set(Rule::StallAfter(2 << 20));
    let mut killed = spawn_pull(&s.h, &s.reference, &out);
    let left = wait_for_staging(&mut killed, &out, &[]);
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(
        holds_plaintext(&left),
        "the precondition: plaintext left behind"
    );
    // Not a staging directory's name (7 random characters): never touched.
    let lookalike = s.h.path().join(".m.pqreg-partial-notours");
    std::fs::create_dir(&lookalike).unwrap();
    std::fs::write(lookalike.join("keep"), b"x").unwrap();

    // A second pull of the same output removes the leftover, and hangs in turn.
    s.proxy.set(Rule::StallAfter(2 << 20));
    let mut running = spawn_pull(&s.h, &s.reference, &out);
    let live = wait_for_staging(&mut running, &out, &[left.clone(), lookalike.clone()]);
    s.proxy.wait_stalled();
    assert!(
        !left.exists(),
        "the SIGKILLed pull's staging directory stayed"
    );

    // A third pull completes; it leaves the running pull's (locked) staging directory.
    let o = pqreg_cmd(&s.h, None)
        .args(pull_args(&s.h, &s.reference, &out))
        .output()
        .unwrap();
    ok(&o);
    assert!(tree(&out) == tree(&s.src), "pulled model differs");
    assert!(
        live.exists() && holds_plaintext(&live),
        "a running pull's staging directory was removed"
    );

    // The running pull, stopped, removes only its own staging directory.
    signal(&running, "TERM");
    let o = running.wait_with_output().unwrap();
    exits(&o, 143, "the running pull after SIGTERM");
    assert!(
        !live.exists(),
        "{} stayed: {}",
        live.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(tree(&out) == tree(&s.src), "pulled model differs");
    assert_eq!(
        staging_dirs(s.h.path(), "m"),
        vec![lookalike.clone()],
        "only the lookalike is left"
    );
    assert!(lookalike.join("keep").exists());
}

/// Pulls with the umask `umask` set by the shell that runs pqreg.
fn pull_with_umask(s: &Setup, umask: &str, out: &Path) -> Output {
    pqreg_cmd(&s.h, Some("sh"))
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_pqreg"))
        .args(pull_args(&s.h, &s.reference, out))
        .output()
        .unwrap()
}

#[test]
fn pulled_modes_follow_the_umask() {
    let s = setup();
    for (umask, file, exec) in [("077", 0o600, 0o700), ("022", 0o644, 0o755)] {
        let out = s.h.path().join(format!("out-{umask}"));
        ok(&pull_with_umask(&s, umask, &out));
        assert!(tree(&out) == tree(&s.src), "pulled model differs");
        for (p, want) in [
            (out.clone(), exec),
            (out.join("sub"), exec),
            (out.join("weights.bin"), file),
            (out.join("sub/notes.txt"), file),
            (out.join("run.sh"), exec),
        ] {
            assert_eq!(mode(&p), want, "umask {umask}: {}", p.display());
        }
    }
}

#[test]
fn push_without_recipient_needs_unencrypted() {
    let reg = registry_common::start();
    let h = Home::new();
    let r = format!("{}/models/open:v1", reg.addr);
    let src = tiny();
    let push = |extra: &[&str]| {
        let mut a = vec!["push", src.to_str().unwrap(), &r];
        let key = h.p("signer.key");
        a.extend(["--sign-key", &key]);
        a.extend(extra);
        h.run(&a)
    };
    let o = push(&[]);
    exits(&o, 2, "push without --recipient");
    let err = String::from_utf8_lossy(&o.stderr);
    let first = err.lines().next().unwrap();
    assert!(
        first.contains("--recipient") && first.contains("--unencrypted"),
        "{err}"
    );
    // Nothing was uploaded: the repository does not exist.
    let tags = ureq::get(&format!("http://{}/v2/models/open/tags/list", reg.addr)).call();
    assert!(
        matches!(tags, Err(ureq::Error::StatusCode(404))),
        "{tags:?}"
    );
    let o = push(&["--unencrypted"]);
    ok(&o);
    let i: Value = serde_json::from_str(&ok(&h.run(&["-o", "json", "inspect", &r]))).unwrap();
    assert_eq!(i["encrypted"], false, "{i}");
    // Both at once is a usage error.
    let rcpt = h.p("rcpt.pub");
    exits(
        &push(&["--unencrypted", "--recipient", &rcpt]),
        2,
        "--unencrypted with --recipient",
    );
}

fn get(url: &str, accept: &str) -> Vec<u8> {
    ureq::get(url)
        .header("Accept", accept)
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap()
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[test]
fn a_download_cut_after_a_bad_segment_is_a_transfer_error() {
    let s = setup();
    let base = format!("http://{}/v2/models/m", s._reg.addr);
    let m: Value = serde_json::from_slice(&get(&format!("{base}/manifests/v1"), MANIFEST)).unwrap();
    // The largest chunk layer (several segments of 1 MiB): its first segment is altered in
    // the registry's store, and its download is cut after 1.5 MiB, for good.
    let layer = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|l| l["size"].as_u64().unwrap())
        .unwrap();
    assert!(layer["size"].as_u64().unwrap() > 2 << 20, "{layer}");
    let digest: Digest = layer["digest"].as_str().unwrap().parse().unwrap();
    let hex = digest.hex();
    let blob = s
        ._reg
        .data_dir()
        .join("blobs/sha256")
        .join(&hex[..2])
        .join(&hex);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&blob, &bytes).unwrap();
    s.proxy.set(Rule::Cut {
        digest: hex.clone(),
        after: 3 << 19,
        first: true,
    });
    let out = s.h.path().join("out");
    let o = pqreg_cmd(&s.h, None)
        .args(pull_args(&s.h, &s.reference, &out))
        .output()
        .unwrap();
    // Not 10 (DIGEST_MISMATCH, "do not use the model"): the blob was never read whole; the
    // transfer gave up after its retries (5, UNREACHABLE).
    exits(&o, 5, "pull whose chunk download fails after a bad segment");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&hex) && err.contains("pull blob"), "{err}");
    assert!(!out.exists());
    assert_eq!(staging_dirs(s.h.path(), "out"), Vec::<PathBuf>::new());
}

/// Replaces, on a registry without a referrers API, the classical OMS bundle of the model
/// `digest` in `repo_url` (`http://host/v2/repo`) by one whose statement is the original's
/// with a newline appended: it still names the manifest, but it is another statement.
fn swap_classic_bundle(repo_url: &str, digest: &Digest) {
    let tag = format!("{repo_url}/manifests/sha256-{}", digest.hex());
    let mut index: Value = serde_json::from_slice(&get(&tag, INDEX)).unwrap();
    let entry = index["manifests"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|d| {
            d["annotations"].as_object().is_some_and(|a| {
                a.values()
                    .any(|v| v.as_str().is_some_and(|s| s.contains("ecdsa")))
            })
        })
        .expect("a classical bundle among the referrers");
    let referrer_url = format!("{repo_url}/manifests/{}", entry["digest"].as_str().unwrap());
    let mut referrer: Value = serde_json::from_slice(&get(&referrer_url, MANIFEST)).unwrap();
    let layer = &mut referrer["layers"][0];
    let bundle_url = format!("{repo_url}/blobs/{}", layer["digest"].as_str().unwrap());
    let mut bundle: Value = serde_json::from_slice(&get(&bundle_url, "*/*")).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = &mut bundle["dsseEnvelope"]["payload"];
    let mut statement = b64.decode(payload.as_str().unwrap()).unwrap();
    statement.push(b'\n');
    *payload = Value::String(b64.encode(&statement));
    let new_bundle = serde_json::to_vec(&bundle).unwrap();
    let new_digest = Digest::sha256(&new_bundle);
    let start = ureq::post(&format!("{repo_url}/blobs/uploads/"))
        .send_empty()
        .unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let host = repo_url.split("/v2/").next().unwrap();
    let upload = if location.starts_with("http") {
        location
    } else {
        format!("{host}{location}")
    };
    let sep = if upload.contains('?') { '&' } else { '?' };
    ureq::put(&format!("{upload}{sep}digest={new_digest}"))
        .header("Content-Type", "application/octet-stream")
        .send(&new_bundle[..])
        .unwrap();
    layer["digest"] = Value::String(new_digest.to_string());
    layer["size"] = Value::from(new_bundle.len());
    let new_referrer = serde_json::to_vec(&referrer).unwrap();
    let new_referrer_digest = Digest::sha256(&new_referrer);
    ureq::put(&format!("{repo_url}/manifests/{new_referrer_digest}"))
        .header("Content-Type", MANIFEST)
        .send(&new_referrer[..])
        .unwrap();
    entry["digest"] = Value::String(new_referrer_digest.to_string());
    entry["size"] = Value::from(new_referrer.len());
    ureq::put(&tag)
        .header("Content-Type", INDEX)
        .send(&serde_json::to_vec(&index).unwrap()[..])
        .unwrap();
}

#[test]
fn oms_signature_of_another_statement_fetches_and_leaves_nothing() {
    // pqreg-registry stores only logged bundles, so the forged one goes to docker-registry.
    let Some(dr) = registry_common::start_docker_registry() else {
        return;
    };
    let proxy = Proxy::start(&dr.addr);
    let h = Home::new();
    ok(&h.run(&[
        "keygen",
        "--sign",
        "--alg",
        "ecdsa-p256",
        "--out",
        &h.p("classic"),
    ]));
    policy(
        &h.path().join("trust.toml"),
        &h.path().join("signer.pub"),
        &format!("{}/models/*", proxy.addr),
    );
    let src = model(h.path());
    let reference = format!("{}/models/oms:v1", proxy.addr);
    let pushed: Value = serde_json::from_str(&ok(&h.push(
        &src,
        &reference,
        "signer.key",
        &["--classic-sign-key", &h.p("classic.key")],
    )))
    .unwrap();
    let digest: Digest = pushed["digest"].as_str().unwrap().parse().unwrap();
    let repo_url = format!("http://{}/v2/models/oms", dr.addr);
    let m: Value =
        serde_json::from_slice(&get(&format!("{repo_url}/manifests/{digest}"), MANIFEST)).unwrap();
    swap_classic_bundle(&repo_url, &digest);

    // What the push sent is not what the pull fetches.
    proxy.requests.lock().unwrap().clear();
    let (out, sig) = (h.path().join("out"), h.path().join("model.sig"));
    let o = pqreg_cmd(&h, None)
        .args(pull_args(&h, &reference, &out))
        .arg("--oms-signature")
        .arg(&sig)
        .output()
        .unwrap();
    exits(
        &o,
        11,
        "pull --oms-signature with a classical bundle of another statement",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("different statement"), "{err}");
    assert!(!out.exists() && !sig.exists());
    assert_eq!(staging_dirs(h.path(), "out"), Vec::<PathBuf>::new());
    // Refused before any chunk was fetched (the config and index were).
    for l in m["layers"].as_array().unwrap().iter().skip(1) {
        let d = l["digest"].as_str().unwrap();
        assert!(!proxy.saw(&d["sha256:".len()..]), "chunk {d} was fetched");
    }
}

#[test]
fn push_follows_symlinks_only_when_told() {
    let reg = registry_common::start();
    let h = Home::new();
    policy(
        &h.path().join("trust.toml"),
        &h.path().join("signer.pub"),
        &format!("{}/models/*", reg.addr),
    );
    // The layout of a Hugging Face cache: snapshots/<rev>/NAME -> ../../blobs/<hash>.
    let cache = h.path().join("hf/models--org--m");
    let snap = cache.join("snapshots/0123abcd");
    std::fs::create_dir_all(snap.join("tok")).unwrap();
    std::fs::create_dir_all(cache.join("blobs")).unwrap();
    for (name, link, body) in [
        ("config.json", "../../blobs/aa11", &b"{}"[..]),
        ("weights.bin", "../../blobs/bb22", &noise(3, 3 << 20)[..]),
        ("tok/vocab.txt", "../../../blobs/cc33", &b"a\nb\n"[..]),
    ] {
        let blob = cache.join("blobs").join(link.rsplit('/').next().unwrap());
        std::fs::write(&blob, body).unwrap();
        std::os::unix::fs::symlink(link, snap.join(name)).unwrap();
    }
    let r = format!("{}/models/hf:v1", reg.addr);
    let o = h.push(&snap, &r, "signer.key", &[]);
    exits(&o, 1, "push of symlinks without --follow-symlinks");
    // -o json: the error is on stdout.
    let err = String::from_utf8_lossy(&o.stdout);
    assert!(err.contains("--follow-symlinks"), "{err}");
    ok(&h.push(&snap, &r, "signer.key", &["--follow-symlinks"]));
    let out = h.path().join("out");
    ok(&h.pull(&r, "out", "rcpt.key", &[]));
    assert!(
        tree(&out) == tree(&snap),
        "pulled model differs from the snapshot"
    );
    let m = std::fs::symlink_metadata(out.join("tok/vocab.txt")).unwrap();
    assert!(m.file_type().is_file(), "pulled as a regular file");
}

#[test]
fn pull_into_an_existing_empty_directory() {
    let s = setup();
    // An emptyDir: exists, empty, its own mode (kept).
    let dir = s.h.path().join("emptydir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
    // Stopped mid-pull: the staging directory inside it goes, the directory stays empty.
    s.proxy.set(Rule::StallAfter(2 << 20));
    let mut child = spawn_pull(&s.h, &s.reference, &dir);
    let deadline = Instant::now() + Duration::from_secs(60);
    let staging = loop {
        if let Some(d) = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|d| {
                d.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".pqreg-partial-")
                    && holds_plaintext(d)
            })
        {
            break d;
        }
        assert!(child.try_wait().unwrap().is_none(), "the pull ended early");
        assert!(Instant::now() < deadline, "no staging directory with data");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(mode(&staging), 0o700);
    signal(&child, "INT");
    exits(
        &child.wait_with_output().unwrap(),
        130,
        "pull into emptyDir, SIGINT",
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "emptyDir not left empty"
    );

    ok(&pqreg_cmd(&s.h, None)
        .args(pull_args(&s.h, &s.reference, &dir))
        .output()
        .unwrap());
    assert!(tree(&dir) == tree(&s.src), "pulled model differs");
    assert_eq!(mode(&dir), 0o770);
    // Now it is not empty: refused, and nothing in it changes.
    let before = tree(&dir);
    let o = pqreg_cmd(&s.h, None)
        .args(pull_args(&s.h, &s.reference, &dir))
        .output()
        .unwrap();
    exits(&o, 4, "pull into a non-empty directory");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is not empty"), "{err}");
    assert!(tree(&dir) == before);
}

/// An existing empty output directory named by a relative path: the commit's emptiness
/// check must recognize its own staging directory (found by the attack review: it
/// compared the absolute staging path with the relative entry paths and refused every
/// such pull with "not empty (it holds .pqreg-partial-…)").
#[test]
fn pull_into_an_existing_empty_directory_by_relative_path() {
    let s = setup();
    std::fs::create_dir(s.h.path().join("empty-out")).unwrap();
    let o = pqreg_cmd(&s.h, None)
        .current_dir(s.h.path())
        .args(pull_args(&s.h, &s.reference, Path::new("empty-out")))
        .output()
        .unwrap();
    ok(&o);
    let out = s.h.path().join("empty-out");
    assert!(tree(&out) == tree(&s.src), "pulled model differs");
    assert!(
        !holds_staging(&out),
        "a staging directory was left in {}",
        out.display()
    );
}

/// Whether `dir` holds an entry named like an in-place staging directory.
fn holds_staging(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .starts_with(".pqreg-partial-")
    })
}

/// Another local user pre-creates the (empty) output directory, e.g. under a shared
/// /tmp, owned by them. The pull writes the verified model into it; its owner can then
/// replace any file (the directory is theirs), so the puller loads bytes no trusted
/// signer published. Needs root (to give the directory to uid 65534).
#[test]
fn pull_refuses_an_output_directory_owned_by_another_user() {
    let s = setup();
    let out = s.h.path().join("foreign-out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::chown(&out, Some(65534), None)
        .expect("run as root: the test gives the output directory to uid 65534");
    let o = pull_with_umask(&s, "077", &out);
    assert!(
        !o.status.success(),
        "pull wrote the model into a directory owned by uid 65534: {:?}",
        std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect::<Vec<_>>()
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("belongs to uid 65534"),
        "the refusal names the owner: {stderr}"
    );
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "nothing written into the foreign directory"
    );
}
