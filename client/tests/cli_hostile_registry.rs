//! A hostile registry (or mirror, cache, anyone on the network path) against the real
//! `pqreg` binary: the threat model lets it refuse service, not exhaust the memory of the
//! node that pulls. Here the "registry" is a small HTTP server the test runs, because the
//! attack is what it answers.
//!
//! - A manifest answered with an endless chunked body: `pqreg` must stop reading once the
//!   4 MiB manifest limit (`pqreg_spec::oci::MAX_MANIFEST_LEN`) is passed. Before the
//!   client read manifests with its own bounded request, oci-client buffered the whole
//!   body before the limit was checked, so a 10 GB answer took 10 GB of memory (finding
//!   of the attack review, measured by hand with `/usr/bin/time -v`).
//! - The same for the referrers list: the registry serves a real model's manifest (pushed
//!   to a real `pqreg-registry` first), then answers its referrers with an endless body.
//! - The same for the tags list, which `pqreg push --identity` reads to find the newest
//!   verified version to build on (1 MiB a page).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cli_common::{Home, ok, policy, tiny};
use crate::registry_common;

/// The most manifest bytes the hostile server sends in one answer (the test's own bound,
/// so that a client that never stops still ends; far more than any sane limit).
const ENDLESS: u64 = 2 << 30;

/// One piece of the endless body.
const PIECE: usize = 64 << 10;

/// Reads one request head; returns its path, or `None` when the client went away.
fn request_path(r: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_owned();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        if h == "\r\n" || h == "\n" {
            return Some(path);
        }
    }
}

/// What the hostile registry answers with an endless body.
#[derive(Clone)]
enum Endless {
    /// Every manifest.
    Manifests,
    /// The referrers list; manifests are answered with these bytes.
    Referrers(Arc<Vec<u8>>),
    /// The tags list (what `push --identity` reads to find a version to build on).
    Tags,
}

/// Serves `/v2/` (200 `{}`) and, per `mode`, every manifest or the referrers list as an
/// endless chunked JSON body; `most` is the largest number of bytes one endless answer
/// got out before the client closed the connection.
fn serve(conn: TcpStream, most: &AtomicU64, mode: &Endless) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    while let Some(path) = request_path(&mut r) {
        let endless = match mode {
            Endless::Manifests => path.contains("/manifests/"),
            Endless::Referrers(_) => path.contains("/referrers/"),
            Endless::Tags => path.contains("/tags/list"),
        };
        if !endless {
            let (body, mt): (&[u8], &str) = match mode {
                Endless::Referrers(m) if path.contains("/manifests/") => {
                    (m.as_slice(), "application/vnd.oci.image.manifest.v1+json")
                }
                _ => (b"{}", "application/json"),
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {mt}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            if w.write_all(head.as_bytes())
                .and_then(|()| w.write_all(body))
                .is_err()
            {
                return;
            }
            continue;
        }
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\nTransfer-Encoding: chunked\r\n\r\n";
        if w.write_all(head.as_bytes()).is_err() {
            return;
        }
        let mut piece = format!("{PIECE:x}\r\n").into_bytes();
        piece.extend(std::iter::repeat_n(b' ', PIECE));
        piece.extend_from_slice(b"\r\n");
        let mut sent = 0u64;
        while sent < ENDLESS {
            if w.write_all(&piece).is_err() {
                break;
            }
            sent += PIECE as u64;
            most.fetch_max(sent, Ordering::Relaxed);
        }
        if sent < ENDLESS || w.write_all(b"0\r\n\r\n").is_err() {
            return;
        }
    }
}

fn hostile_registry(mode: Endless) -> (String, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let most = Arc::new(AtomicU64::new(0));
    let m = Arc::clone(&most);
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { return };
            let (m, mode) = (Arc::clone(&m), mode.clone());
            std::thread::spawn(move || serve(conn, &m, &mode));
        }
    });
    (addr, most)
}

#[test]
fn an_endless_manifest_is_cut_at_the_limit() {
    let (addr, most) = hostile_registry(Endless::Manifests);
    let h = Home::new();
    pull_from_hostile(&h, &addr, &most, "manifest");
}

#[test]
fn an_endless_referrers_list_is_cut_at_the_limit() {
    // A real model's manifest, so that the pull gets as far as listing its referrers.
    let reg = registry_common::start();
    let h = Home::new();
    let pushed = ok(&h.push(
        &tiny(),
        &format!("{}/models/m:v1", reg.addr),
        "signer.key",
        &[],
    ));
    let v: serde_json::Value = serde_json::from_str(&pushed).unwrap();
    let digest = v["digest"].as_str().unwrap();
    let manifest = ureq::get(format!(
        "http://{}/v2/models/m/manifests/{digest}",
        reg.addr
    ))
    .header("Accept", "application/vnd.oci.image.manifest.v1+json")
    .call()
    .unwrap()
    .body_mut()
    .read_to_vec()
    .unwrap();
    let (addr, most) = hostile_registry(Endless::Referrers(Arc::new(manifest)));
    pull_from_hostile(&h, &addr, &most, "referrers list");
}

#[test]
fn an_endless_tags_list_is_cut_at_the_limit() {
    let (addr, most) = hostile_registry(Endless::Tags);
    let h = Home::new();
    let started = Instant::now();
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_pqreg"))
        .arg("push")
        .arg(tiny())
        .arg(format!("{addr}/models/m:v2"))
        .args([
            "--recipient",
            &h.p("rcpt.pub"),
            "--sign-key",
            &h.p("signer.key"),
        ])
        .args(["--identity", &h.p("rcpt.key")])
        .env("HOME", h.path())
        .env("XDG_CACHE_HOME", h.path().join("cache"))
        .env("XDG_CONFIG_HOME", h.path().join("config"))
        .env("XDG_STATE_HOME", h.path().join("state"))
        .env("DOCKER_CONFIG", h.path().join("docker"))
        .env_remove("PQREG_REGISTRY")
        .output()
        .unwrap();
    let read = most.load(Ordering::Relaxed);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        read <= 32 << 20,
        "the client read {read} bytes of one tags list in {:?} (status {:?}); stderr {stderr}",
        started.elapsed(),
        o.status,
    );
    assert_eq!(o.status.code(), Some(1), "stderr {stderr}");
    assert!(
        stderr.contains("over the limit of 1048576 bytes"),
        "the error names the limit: {stderr}"
    );
}

/// Pulls `models/m:v1` from the hostile registry at `addr` under a 1 GiB address-space
/// limit: the client must stop reading the endless `what` near the 4 MiB limit, fail
/// with exit 1, and write nothing.
fn pull_from_hostile(h: &Home, addr: &str, most: &AtomicU64, what: &str) {
    let reference = format!("{addr}/models/m:v1");
    let trust = h.path().join("trust.toml");
    policy(
        &trust,
        &h.path().join("signer.pub"),
        &format!("{addr}/models/*"),
    );
    let out = h.p("out");
    // The address-space limit keeps a client that buffers everything from taking the
    // machine down with it: it then dies of a failed allocation instead.
    let started = Instant::now();
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_pqreg"))
        .args(["pull", &reference, &out, "--identity", &h.p("rcpt.key")])
        .arg("--policy")
        .arg(&trust)
        .env("HOME", h.path())
        .env("XDG_CACHE_HOME", h.path().join("cache"))
        .env("XDG_CONFIG_HOME", h.path().join("config"))
        .env("XDG_STATE_HOME", h.path().join("state"))
        .env("DOCKER_CONFIG", h.path().join("docker"))
        .env_remove("PQREG_REGISTRY")
        .output()
        .unwrap();
    let read = most.load(Ordering::Relaxed);
    // 4 MiB of manifest plus what the sockets' buffers hold.
    assert!(
        read <= 32 << 20,
        "the client read {read} bytes of one {what} in {:?} (status {:?}); stderr {}",
        started.elapsed(),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "an over-long {what} is a registry failure (exit 1): stderr {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(120));
    assert!(!std::path::Path::new(&out).exists(), "pull wrote {out}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("over the limit of 4194304 bytes"),
        "the error names the limit: {stderr}"
    );
}
