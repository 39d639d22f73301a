//! A hostile registry against `pqreg ls HOST` (the catalog), `pqreg delete` (attack
//! report F4), the token flow and blob downloads, that is against every answer pqreg
//! reads that `cli_hostile_registry.rs` does not cover: the threat model lets a registry
//! refuse service, not exhaust the memory of
//! the client, nor keep it busy without end. The "registry" is a small HTTP server the
//! test runs, because the attack is what it answers; every run of the real `pqreg` binary
//! has a 1 GiB address-space limit (a client that buffers without bound dies of a failed
//! allocation instead of taking the machine down) and a deadline (one that never stops
//! is killed and the test fails).
//!
//! - One endless catalog page: cut at the 1 MiB page limit, exit 1. Before, oci-client's
//!   `catalog()` read the page whole (4.7 GB in 8 s in the attack).
//! - An endless walk of small pages, each linking to the next: stopped at 1024 pages.
//!   Before, the walk went on while pages kept adding names.
//! - Pages that add up to more than 65,536 names: refused, not truncated.
//! - A next-page link to another host: refused, and nothing is asked of that host.
//! - A catalog paged by opaque `Link` cursors is listed whole (before, only `last=` was
//!   used, and the walk ended after the first page).
//! - An endless token from the token service `pqreg login` is sent to: refused past
//!   64 KiB, exit 1 (before, read whole with `json()` until the 30 s timeout).
//! - The same for `pqreg pull` and `pqreg push` (the token flow of every transfer, run
//!   by pqreg since oci-client reads the answer whole).
//! - An endless body on the DELETE's answer: a 202 is not read at all (exit 0), an error
//!   answer only for its first 8 KiB (exit 1 with the registry's message). Before, the
//!   answer was read with `text()` until reqwest's 120 s timeout.
//! - An endless 500 answer to a blob download (everything else forwarded to a real
//!   registry holding the model): at most 8 KiB read per attempt, exit 5 after the
//!   retries. Before, oci-client read the error answer whole.
//! - An endless 500 answer to the upload session's `POST` of a push: the same (exit 5).
//!   Before, oci-client read it whole (1.9 GB in 6 s, measured by hand).
//! - The same for the manifest `PUT` once every blob is uploaded.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cli_common::{Home, ok, policy, tiny};
use crate::registry_common;

/// The most bytes the hostile server sends in one endless answer (the test's own bound,
/// so that a client that never stops still ends).
const ENDLESS: u64 = 2 << 30;

/// One piece of an endless body.
const PIECE: usize = 64 << 10;

/// How long one `pqreg` run may take before the test kills it and fails.
const DEADLINE: Duration = Duration::from_secs(90);

/// What the hostile server answers to one request.
enum Answer {
    /// A complete JSON answer: status, body, and a `Link` header if any.
    Json(u16, String, Option<String>),
    /// A chunked answer that starts with these bytes and does not end.
    Endless(u16, &'static [u8]),
    /// 401 with this `WWW-Authenticate` challenge.
    Challenge(String),
    /// An empty answer with this status and header line (e.g. `Location: …`).
    Empty(u16, String),
}

/// A request: method and path (with the query).
type Handler = dyn Fn(&str, &str) -> Answer + Send + Sync;

/// Reads one request (its body, by `Content-Length`, is read and dropped); returns its
/// method and path, or `None` when the client left.
fn request(r: &mut BufReader<TcpStream>) -> Option<(String, String)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let method = words.next()?.to_owned();
    let path = words.next()?.to_owned();
    let mut length = 0u64;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        if h == "\r\n" || h == "\n" {
            std::io::copy(
                &mut std::io::Read::take(&mut *r, length),
                &mut std::io::sink(),
            )
            .ok()?;
            return Some((method, path));
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().ok()?;
        }
    }
}

/// The hostile registry: `/v2/` answers 200 `{}` (no credentials asked), everything else
/// goes to `handler`. Returns its address, the most bytes one endless answer got out
/// before the client closed the connection, and the number of requests served.
fn hostile(handler: Arc<Handler>) -> (String, Arc<AtomicU64>, Arc<AtomicU64>) {
    hostile_with(None, handler)
}

/// [`hostile`], whose `/v2/` answers 401 with this `WWW-Authenticate` challenge if any.
fn hostile_with(
    challenge: Option<String>,
    handler: Arc<Handler>,
) -> (String, Arc<AtomicU64>, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let challenge = challenge.map(|c| c.replace("{addr}", &addr));
    let most = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let (m, n) = (Arc::clone(&most), Arc::clone(&requests));
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { return };
            let (m, n, h) = (Arc::clone(&m), Arc::clone(&n), Arc::clone(&handler));
            let c = challenge.clone();
            std::thread::spawn(move || serve(conn, &m, &n, c.as_deref(), h.as_ref()));
        }
    });
    (addr, most, requests)
}

fn serve(
    conn: TcpStream,
    most: &AtomicU64,
    requests: &AtomicU64,
    challenge: Option<&str>,
    handler: &Handler,
) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    while let Some((method, path)) = request(&mut r) {
        requests.fetch_add(1, Ordering::Relaxed);
        let answer = if path == "/v2/" {
            match challenge {
                Some(c) => Answer::Challenge(c.to_owned()),
                None => Answer::Json(200, "{}".into(), None),
            }
        } else {
            handler(&method, &path)
        };
        match answer {
            Answer::Empty(status, header) => {
                let head = format!("HTTP/1.1 {status} X\r\n{header}\r\nContent-Length: 0\r\n\r\n");
                if w.write_all(head.as_bytes()).is_err() {
                    return;
                }
            }
            Answer::Challenge(c) => {
                let head = format!(
                    "HTTP/1.1 401 X\r\nWWW-Authenticate: {c}\r\nContent-Length: 2\r\n\r\n{{}}"
                );
                if w.write_all(head.as_bytes()).is_err() {
                    return;
                }
            }
            Answer::Json(status, body, link) => {
                let link = link.map(|l| format!("Link: {l}\r\n")).unwrap_or_default();
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{link}Content-Length: {}\r\n\r\n",
                    body.len()
                );
                let body = if method == "HEAD" { "" } else { body.as_str() };
                if w.write_all(head.as_bytes())
                    .and_then(|()| w.write_all(body.as_bytes()))
                    .is_err()
                {
                    return;
                }
            }
            Answer::Endless(status, prefix) => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
                    prefix.len()
                );
                if w.write_all(head.as_bytes())
                    .and_then(|()| w.write_all(prefix))
                    .and_then(|()| w.write_all(b"\r\n"))
                    .is_err()
                {
                    return;
                }
                let mut piece = format!("{PIECE:x}\r\n").into_bytes();
                piece.extend(std::iter::repeat_n(b'a', PIECE));
                piece.extend_from_slice(b"\r\n");
                let mut sent = 0u64;
                while sent < ENDLESS {
                    if w.write_all(&piece).is_err() {
                        return;
                    }
                    sent += PIECE as u64;
                    most.fetch_max(sent, Ordering::Relaxed);
                }
                return;
            }
        }
    }
}

/// Runs `pqreg ARGS` in `h` under a 1 GiB address-space limit; kills it (and fails the
/// test) if it has not ended after [`DEADLINE`].
pub(crate) fn run_bounded(h: &Home, args: &[&str]) -> Output {
    let started = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_pqreg"))
        .args(args)
        .env("HOME", h.path())
        .env("XDG_CACHE_HOME", h.path().join("cache"))
        .env("XDG_CONFIG_HOME", h.path().join("config"))
        .env("XDG_STATE_HOME", h.path().join("state"))
        .env("DOCKER_CONFIG", h.path().join("docker"))
        .env_remove("PQREG_REGISTRY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Pipes are drained by threads so that a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).unwrap();
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).unwrap();
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("pqreg {args:?} did not end within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Asserts `o` exited with `code` and that stderr holds `needle`.
fn fails_with(o: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "stderr {stderr}");
    assert!(stderr.contains(needle), "no {needle:?} in: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        2,
        "one error line and one hint: {stderr}"
    );
}

/// The `last` query parameter of `path`, if any.
fn last_of(path: &str) -> Option<&str> {
    path.split(['?', '&']).find_map(|p| p.strip_prefix("last="))
}

#[test]
fn an_endless_catalog_page_is_cut_at_the_limit() {
    let (addr, most, _) = hostile(Arc::new(|_: &str, path: &str| {
        assert!(path.starts_with("/v2/_catalog"), "{path}");
        Answer::Endless(200, br#"{"repositories":[""#)
    }));
    let h = Home::new();
    let o = run_bounded(&h, &["ls", &addr]);
    let read = most.load(Ordering::Relaxed);
    // 1 MiB of page plus what the sockets' buffers hold.
    assert!(read <= 32 << 20, "the client read {read} bytes of one page");
    fails_with(&o, 1, "over the limit of 1048576 bytes");
}

#[test]
fn an_endless_walk_of_small_pages_stops_at_the_page_limit() {
    // Every page holds one new name and links to the next one.
    let pages = Arc::new(AtomicU64::new(0));
    let p = Arc::clone(&pages);
    let (addr, _, _) = hostile(Arc::new(move |_: &str, _: &str| {
        let k = p.fetch_add(1, Ordering::Relaxed);
        Answer::Json(
            200,
            format!(r#"{{"repositories":["r{k:09}"]}}"#),
            Some(format!(
                r#"</v2/_catalog?n=1&cursor={}>; rel="next""#,
                k + 1
            )),
        )
    }));
    let h = Home::new();
    let o = run_bounded(&h, &["ls", &addr]);
    fails_with(&o, 1, "did not end after 1024 pages");
    assert_eq!(pages.load(Ordering::Relaxed), 1024);
}

#[test]
fn more_than_65536_names_are_refused() {
    // Pages of 30,000 names (about 390 KB, under the page limit), no `Link`: the client
    // asks on with `last=`, and every page goes on after it.
    let (addr, _, _) = hostile(Arc::new(|_: &str, path: &str| {
        let start = last_of(path).map_or(0, |l| l[1..].parse::<u64>().unwrap() + 1);
        let names: Vec<String> = (start..start + 30_000)
            .map(|i| format!("\"r{i:09}\""))
            .collect();
        Answer::Json(
            200,
            format!(r#"{{"repositories":[{}]}}"#, names.join(",")),
            None,
        )
    }));
    let h = Home::new();
    let o = run_bounded(&h, &["ls", &addr]);
    fails_with(&o, 1, "more than 65536 repositories");
}

#[test]
fn a_next_page_link_to_another_host_is_not_followed() {
    let (elsewhere, _, asked) = hostile(Arc::new(|_: &str, _: &str| {
        Answer::Json(200, r#"{"repositories":["stolen"]}"#.into(), None)
    }));
    let to = elsewhere.clone();
    let (addr, _, _) = hostile(Arc::new(move |_: &str, _: &str| {
        Answer::Json(
            200,
            r#"{"repositories":["a"]}"#.into(),
            Some(format!(r#"<http://{to}/v2/_catalog?last=a>; rel="next""#)),
        )
    }));
    let h = Home::new();
    let o = run_bounded(&h, &["ls", &addr]);
    fails_with(&o, 1, "leaves the registry");
    assert_eq!(asked.load(Ordering::Relaxed), 0, "the other host was asked");
}

#[test]
fn a_catalog_paged_by_link_cursors_is_listed_whole() {
    // Opaque cursors: only a client that follows `Link` sees past the first page.
    let (addr, _, _) = hostile(Arc::new(|_: &str, path: &str| {
        let (names, next): (&[&str], Option<u32>) = if last_of(path).is_some() {
            (&[], None)
        } else if path.contains("cursor=2") {
            (&["d"], None)
        } else if path.contains("cursor=1") {
            (&["c"], Some(2))
        } else {
            (&["a", "b"], Some(1))
        };
        Answer::Json(
            200,
            serde_json::json!({ "repositories": names }).to_string(),
            next.map(|k| format!(r#"</v2/_catalog?cursor={k}>; rel="next""#)),
        )
    }));
    let h = Home::new();
    let o = run_bounded(&h, &["ls", &addr]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "a\nb\nc\nd");
}

#[test]
fn an_endless_delete_answer_is_not_read() {
    let (addr, most, _) = hostile(Arc::new(|method: &str, _: &str| {
        assert_eq!(method, "DELETE");
        Answer::Endless(202, b"\"")
    }));
    let h = Home::new();
    let o = run_bounded(&h, &["delete", &format!("{addr}/models/x:v1")]);
    let read = most.load(Ordering::Relaxed);
    assert!(
        read <= 32 << 20,
        "the client read {read} bytes of the answer"
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn an_endless_delete_error_is_read_for_its_message_only() {
    let (addr, most, _) = hostile(Arc::new(|method: &str, _: &str| {
        assert_eq!(method, "DELETE");
        Answer::Endless(400, br#"{"errors":[{"code":"DENIED","message":"no"#)
    }));
    let h = Home::new();
    let o = run_bounded(&h, &["delete", &format!("{addr}/models/x:v1")]);
    let read = most.load(Ordering::Relaxed);
    assert!(
        read <= 32 << 20,
        "the client read {read} bytes of the answer"
    );
    fails_with(
        &o,
        1,
        "HTTP 400: {\"errors\":[{\"code\":\"DENIED\",\"message\":\"noaaa",
    );
}

#[test]
fn an_endless_token_answer_to_login_is_refused() {
    let (addr, most, _) = hostile_with(
        Some(r#"Bearer realm="http://{addr}/token",service="hostile""#.into()),
        Arc::new(|_: &str, path: &str| {
            assert!(path.starts_with("/token"), "{path}");
            Answer::Endless(200, br#"{"token":""#)
        }),
    );
    let h = Home::new();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_pqreg"))
        .args(["login", &addr, "-u", "alice", "--password-stdin"])
        .env("HOME", h.path())
        .env("XDG_CONFIG_HOME", h.path().join("config"))
        .env("DOCKER_CONFIG", h.path().join("docker"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    // `login` has its own 30 s timeout; the deadline is the test's bound.
    let o = child.wait_with_output().unwrap();
    let read = most.load(Ordering::Relaxed);
    assert!(
        read <= 32 << 20,
        "the client read {read} bytes of the token"
    );
    fails_with(&o, 1, "longer than 65536 bytes");
    assert!(
        !h.path().join("docker/config.json").exists(),
        "refused credentials were stored"
    );
}

#[test]
fn an_endless_token_answer_to_pull_and_push_is_refused() {
    let (addr, most, _) = hostile_with(
        Some(r#"Bearer realm="http://{addr}/token",service="hostile""#.into()),
        Arc::new(|_: &str, path: &str| {
            assert!(path.starts_with("/token"), "{path}");
            Answer::Endless(200, br#"{"token":""#)
        }),
    );
    let h = Home::new();
    let trust = h.path().join("trust.toml");
    policy(
        &trust,
        &h.path().join("signer.pub"),
        &format!("{addr}/models/*"),
    );
    let reference = format!("{addr}/models/m:v1");
    let o = run_bounded(
        &h,
        &[
            "pull",
            &reference,
            &h.p("out"),
            "--identity",
            &h.p("rcpt.key"),
            "--policy",
            trust.to_str().unwrap(),
        ],
    );
    fails_with(&o, 1, "over the limit of 65536 bytes");
    let o = run_bounded(
        &h,
        &[
            "push",
            tiny().to_str().unwrap(),
            &reference,
            "--recipient",
            &h.p("rcpt.pub"),
            "--sign-key",
            &h.p("signer.key"),
        ],
    );
    fails_with(&o, 1, "over the limit of 65536 bytes");
    let read = most.load(Ordering::Relaxed);
    assert!(read <= 32 << 20, "the client read {read} bytes of a token");
}

#[test]
fn an_endless_error_answer_to_a_blob_download_is_read_for_its_message_only() {
    // A real model in a real registry; the hostile one forwards manifests and referrers
    // to it and answers every blob download with an endless 500.
    let reg = registry_common::start();
    let h = Home::new();
    ok(&h.push(
        &tiny(),
        &format!("{}/models/m:v1", reg.addr),
        "signer.key",
        &[],
    ));
    let upstream = reg.addr.clone();
    let (addr, most, _) = hostile(Arc::new(move |method: &str, path: &str| {
        assert_eq!(method, "GET", "{path}");
        if path.contains("/blobs/") {
            return Answer::Endless(500, b"x");
        }
        let mut resp = ureq::get(format!("http://{upstream}{path}"))
            .header(
                "Accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json",
            )
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap();
        Answer::Json(status, body, None)
    }));
    let trust = h.path().join("trust.toml");
    policy(
        &trust,
        &h.path().join("signer.pub"),
        &format!("{addr}/models/*"),
    );
    let o = run_bounded(
        &h,
        &[
            "pull",
            &format!("{addr}/models/m:v1"),
            &h.p("out"),
            "--identity",
            &h.p("rcpt.key"),
            "--policy",
            trust.to_str().unwrap(),
        ],
    );
    let read = most.load(Ordering::Relaxed);
    assert!(read <= 32 << 20, "the client read {read} bytes of an error");
    fails_with(&o, 5, "HTTP 500: xaaaa");
    assert!(!h.path().join("out").exists(), "the pull wrote its output");
}

#[test]
fn an_endless_error_answer_to_an_upload_is_read_for_its_message_only() {
    // Nothing exists (every GET and HEAD is a 404); the upload session's POST gets an
    // endless 500.
    let (addr, most, _) = hostile(Arc::new(|method: &str, _: &str| {
        if method == "POST" {
            return Answer::Endless(500, b"x");
        }
        Answer::Json(
            404,
            r#"{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}"#.into(),
            None,
        )
    }));
    let h = Home::new();
    let o = run_bounded(
        &h,
        &[
            "push",
            tiny().to_str().unwrap(),
            &format!("{addr}/models/m:v1"),
            "--recipient",
            &h.p("rcpt.pub"),
            "--sign-key",
            &h.p("signer.key"),
        ],
    );
    let read = most.load(Ordering::Relaxed);
    assert!(read <= 32 << 20, "the client read {read} bytes of an error");
    // Before the error, push warns that this registry has no log: not one line only.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "stderr {stderr}");
    assert!(stderr.contains("HTTP 500: xaaaa"), "{stderr}");
}

#[test]
fn an_endless_error_answer_to_a_manifest_push_is_read_for_its_message_only() {
    // Blobs upload fine (202 with a session, then 201); the manifest PUT gets an endless
    // 500.
    let (addr, most, _) = hostile(Arc::new(|method: &str, path: &str| match method {
        "POST" => Answer::Empty(202, "Location: /v2/models/m/blobs/uploads/s1".into()),
        "PUT" if path.contains("/blobs/uploads/") => Answer::Empty(201, "X-Ok: 1".into()),
        "PUT" => Answer::Endless(500, b"x"),
        _ => Answer::Json(
            404,
            r#"{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}"#.into(),
            None,
        ),
    }));
    let h = Home::new();
    let o = run_bounded(
        &h,
        &[
            "push",
            tiny().to_str().unwrap(),
            &format!("{addr}/models/m:v1"),
            "--recipient",
            &h.p("rcpt.pub"),
            "--sign-key",
            &h.p("signer.key"),
        ],
    );
    let read = most.load(Ordering::Relaxed);
    assert!(read <= 32 << 20, "the client read {read} bytes of an error");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "stderr {stderr}");
    assert!(stderr.contains("put manifest"), "{stderr}");
    assert!(stderr.contains("HTTP 500: xaaaa"), "{stderr}");
}
