//! Manifest PUTs and log submissions read their bodies like upload bodies (spec/auth.md
//! §8): bounded, with the idle timeout and the minimum rate. Over real HTTP against the
//! real binary:
//!
//! - a manifest body and a log submission that stall are cut after the idle timeout with
//!   `400 MANIFEST_INVALID` / `400 LOG_ENTRY_INVALID` (on main both waited forever: only
//!   upload bodies had a timeout);
//! - an endless manifest body and an endless submission (a Content-Length of 8 GiB, sent
//!   as fast as the socket takes it) are answered at their size limits with `413` and
//!   `Connection: close`, and the connection is shut: the sender gets a write error
//!   within seconds;
//! - a *chunked* endless body gets the same answer, but actix-http then reads and
//!   discards the rest of a chunked body whose payload the handler dropped (actix-web
//!   PR 3936), so the bytes the server reads are not bounded: recorded, not asserted (see
//!   the report of issue 15).
//! - meanwhile and afterwards the registry serves other requests.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use pqreg_tests::Registry;
use pqreg_tests::http::{Client, Response, read_response};
use pqreg_tests::oci::*;

/// Starts `method path` announcing `len` body bytes, sends `sent` of them, then nothing.
fn stalled(c: &Client, method: &str, path: &str, ct: &str, len: u64, sent: usize) -> TcpStream {
    let mut s = c
        .start(method, path, &[("Content-Type", ct)], Some(len))
        .unwrap();
    s.write_all(&vec![b'{'; sent]).unwrap();
    s.flush().unwrap();
    s
}

/// Sends a body of 64 KiB pieces until the server stops reading (at most `max_bytes`):
/// chunked, or with `Content-Length: max_bytes`; then reads the answer. Also how many
/// bytes went out and how long the sender could go on.
fn endless(
    c: &Client,
    method: &str,
    path: &str,
    ct: &str,
    max_bytes: usize,
    chunked: bool,
) -> (Response, usize, Duration) {
    let s = if chunked {
        c.start(
            method,
            path,
            &[("Content-Type", ct), ("Transfer-Encoding", "chunked")],
            None,
        )
    } else {
        c.start(
            method,
            path,
            &[("Content-Type", ct)],
            Some(max_bytes as u64),
        )
    }
    .unwrap();
    let mut w = s.try_clone().unwrap();
    let t = Instant::now();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0usize;
        while sent < max_bytes {
            let ok = if chunked {
                w.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .and_then(|()| w.write_all(&chunk))
                    .and_then(|()| w.write_all(b"\r\n"))
            } else {
                w.write_all(&chunk)
            };
            if ok.is_err() {
                break;
            }
            sent += chunk.len();
        }
        (sent, t.elapsed())
    });
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let r = read_response(s, false).expect("the server answers an endless body");
    let (sent, took) = writer.join().unwrap();
    (r, sent, took)
}

/// `GET /v2/` and a tags list, answered quickly.
fn still_serving(c: &Client, repo: &str) {
    let t = Instant::now();
    assert_eq!(c.get("/v2/").status, 200);
    let r = c.get(&format!("/v2/{repo}/tags/list"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn stalled_manifest_and_log_bodies_are_cut_after_the_idle_timeout() {
    let reg = Registry::start_with_env(&[("PQREG_REGISTRY__LIMITS__BODY_IDLE_TIMEOUT_SECS", "2")]);
    let c = reg.client();
    push_image(&c, "ok/m", "v1", 1, 1);
    let t = Instant::now();
    let m = stalled(
        &c,
        "PUT",
        &manifest_path("slow/m", "v1"),
        MT_MANIFEST,
        4096,
        100,
    );
    let l = stalled(&c, "POST", "/log/v1/entries", "application/json", 4096, 10);
    // While both stall, others are served.
    still_serving(&c, "ok/m");
    for (s, code) in [(m, "MANIFEST_INVALID"), (l, "LOG_ENTRY_INVALID")] {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let r = read_response(s, false).expect("the server answers a stalled body");
        assert_error(&r, 400, Some(code));
        assert!(r.text().contains("stalled"), "{}", r.text());
    }
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(20),
        "{took:?}"
    );
    still_serving(&c, "ok/m");
}

#[test]
fn endless_manifest_and_log_bodies_are_cut_at_their_limits() {
    let limit = 256 * 1024;
    let reg =
        Registry::start_with_env(&[("PQREG_REGISTRY__MAX_MANIFEST_BYTES", &limit.to_string())]);
    let c = reg.client();
    push_image(&c, "ok/m", "v1", 1, 1);
    let huge = 8 << 30;
    let cases = [
        (
            "PUT",
            manifest_path("big/m", "v1"),
            MT_MANIFEST,
            "MANIFEST_INVALID",
        ),
        (
            "POST",
            "/log/v1/entries".to_owned(),
            "application/json",
            "LOG_ENTRY_INVALID",
        ),
    ];
    for (method, path, ct, code) in &cases {
        let (r, sent, took) = endless(&c, method, path, ct, huge, false);
        assert_error(&r, 413, Some(code));
        assert_eq!(r.header("connection"), Some("close"));
        eprintln!("{path}: with Content-Length the sender got {sent} bytes out in {took:?}");
        // Shut within seconds (actix reads what arrives until the shutdown completes, so
        // the bytes taken depend on the link's speed: ~1.3 GB in 0.7 s on loopback).
        assert!(
            sent < huge && took < Duration::from_secs(10),
            "the server read {sent} bytes in {took:?}"
        );
        // Chunked: the same answer; what actix drains afterwards is only recorded.
        let (r, sent, took) = endless(&c, method, path, ct, 1 << 30, true);
        assert_error(&r, 413, Some(code));
        assert_eq!(r.header("connection"), Some("close"));
        eprintln!("{path}: chunked, the sender got {sent} bytes out in {took:?}");
    }
    still_serving(&c, "ok/m");
    assert_eq!(c.get(&manifest_path("big/m", "v1")).status, 404);
}
