//! Limits on what one pusher can hold (issue 15 §2 and §4; spec/auth.md §8, spec/api.md
//! `[limits]`): stalled upload bodies park no thread and are cut after the idle timeout; a
//! client's concurrent bodies are capped, monolithic uploads included; the per-client
//! session cap counts what the handler did, frees a slot only when the session really ends,
//! and a session belongs to the client that opened it.
//!
//! Each test performs the attack over real HTTP against the real binary; each failed on
//! main before the fix (see the comment on each).

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine;
use pqreg_tests::Registry;
use pqreg_tests::http::{Client, read_response, with_query};
use pqreg_tests::oci::*;

fn basic(user: &str, pw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

/// Starts a monolithic upload of `len` bytes and sends only `sent` of them.
fn stalled_monolithic(c: &Client, repo: &str, len: usize, sent: usize) -> TcpStream {
    let body = random_bytes(len as u64, len);
    stalled_body(c, repo, &body, &sha256(&body), sent)
}

/// Starts a monolithic upload of `body` (digest `d`) and sends only `sent` bytes of it.
fn stalled_body(c: &Client, repo: &str, body: &[u8], d: &str, sent: usize) -> TcpStream {
    let mut s = c
        .start(
            "POST",
            &format!("{}?digest={d}", uploads_path(repo)),
            &[("Content-Type", "application/octet-stream")],
            Some(body.len() as u64),
        )
        .expect("connect");
    s.write_all(&body[..sent]).expect("send part of the body");
    s.flush().expect("flush");
    s
}

/// How long `GET /v2/<repo>/tags/list` and a blob pull take, asserting they succeed.
fn timed_pull(c: &Client, repo: &str, blob: &str) -> Duration {
    let t = Instant::now();
    let r = c.get(&format!("/v2/{repo}/tags/list"));
    assert_eq!(r.status, 200, "tags list: {}", r.text());
    let r = c.get(&blob_path(repo, blob));
    assert_eq!(r.status, 200, "blob pull: {}", r.text());
    t.elapsed()
}

/// Before the fix each stalled body held a blocking-pool thread for good; with one worker,
/// ~520 of them left no thread for anyone's metadata reads, and `tags/list` of another user
/// hung. Now a stalled body holds a socket, and the per-client cap refuses the next one.
#[test]
fn a_cap_of_stalled_uploads_does_not_starve_other_users() {
    const CAP: usize = 600;
    let reg = Registry::start_with_env(&[
        ("PQREG_REGISTRY__WORKERS", "1"),
        ("PQREG_REGISTRY__LIMITS__MAX_BODY_STREAMS_PER_CLIENT", "600"),
        ("PQREG_REGISTRY__LIMITS__BODY_IDLE_TIMEOUT_SECS", "300"),
    ]);
    let c = reg.client();
    let (_, _) = push_image(&c, "other/model", "v1", 7, 1);
    let blob = push_blob(&c, "other/model", &random_bytes(8, 4096));
    timed_pull(&c, "other/model", &blob); // warm up
    let baseline = timed_pull(&c, "other/model", &blob);

    let body = random_bytes(9, 1 << 20);
    let d = sha256(&body);
    let mut held = Vec::new();
    for i in 0..CAP {
        held.push(stalled_body(&c, "attacker/x", &body, &d, 100 + i));
    }
    // The server has taken all of them in once the next one is refused for the cap (the
    // stalled ones hold their permits for as long as they stall). A probe that gets no
    // answer yet was admitted (the others were still arriving): it stalls too; try again.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = stalled_body(&c, "attacker/x", &body, &d, 10);
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        match read_response(s.try_clone().unwrap(), false) {
            Ok(r) => {
                assert_error(&r, 429, Some("TOOMANYREQUESTS"));
                break;
            }
            Err(_) => held.push(s),
        }
        assert!(
            Instant::now() < deadline,
            "the upload past the cap was never refused"
        );
    }

    let loaded = timed_pull(&c, "other/model", &blob);
    eprintln!("pull + tags list: {baseline:?} alone, {loaded:?} with {CAP} stalled uploads");
    assert!(
        loaded < baseline * 50 + Duration::from_secs(5),
        "other users' requests slowed from {baseline:?} to {loaded:?}"
    );
    drop(held);
}

/// Before the fix a body that stopped arriving was waited for forever (only the header
/// phase had a timeout).
#[test]
fn a_stalled_upload_is_cut_after_the_idle_timeout() {
    let reg = Registry::start_with_env(&[("PQREG_REGISTRY__LIMITS__BODY_IDLE_TIMEOUT_SECS", "2")]);
    let c = reg.client();
    let t = Instant::now();
    let s = stalled_monolithic(&c, "slow/m", 4096, 1000);
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let r = read_response(s, false).expect("the server answers a stalled monolithic upload");
    assert_error(&r, 400, Some("BLOB_UPLOAD_INVALID"));
    assert!(r.text().contains("stalled"), "{}", r.text());
    assert!(t.elapsed() >= Duration::from_secs(2));

    // A chunk of a session stalls the same way; the session keeps what arrived.
    let loc = open_session(&c, "slow/s");
    let mut s = c
        .start(
            "PATCH",
            &loc,
            &[("Content-Type", "application/octet-stream")],
            Some(4096),
        )
        .unwrap();
    s.write_all(&[7u8; 1000]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let r = read_response(s, false).expect("the server answers a stalled PATCH");
    assert_error(&r, 400, Some("BLOB_UPLOAD_INVALID"));
    let st = c.get(&loc);
    assert_eq!(st.status, 204, "{}", st.text());
    assert_eq!(st.header("Range"), Some("0-999"));
}

/// A body slower than the minimum rate is cut at the end of its window.
#[test]
fn a_trickling_upload_is_cut_below_the_minimum_rate() {
    let reg = Registry::start_with_env(&[
        ("PQREG_REGISTRY__LIMITS__BODY_IDLE_TIMEOUT_SECS", "2"),
        ("PQREG_REGISTRY__LIMITS__BODY_MIN_BYTES_PER_SEC", "100000"),
    ]);
    let c = reg.client();
    let mut s = stalled_monolithic(&c, "slow/t", 1 << 20, 10);
    // One byte every 100 ms: never idle for 2 s, far below 100 kB/s.
    let mut answered = None;
    for _ in 0..300 {
        if s.write_all(&[1]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        s.set_nonblocking(true).unwrap();
        let mut probe = [0u8; 1];
        let peeked = s.peek(&mut probe);
        s.set_nonblocking(false).unwrap();
        if matches!(peeked, Ok(n) if n > 0) {
            answered = Some(());
            break;
        }
    }
    assert!(answered.is_some(), "the trickling upload was never cut");
    let r = read_response(s, false).unwrap();
    assert_error(&r, 400, Some("BLOB_UPLOAD_INVALID"));
    assert!(r.text().contains("too slow"), "{}", r.text());
}

/// Before the fix a POST with `mount=` and `digest=` passed the middleware as monolithic
/// (uncounted) but opened a session in the handler: eight sessions past a cap of four.
#[test]
fn a_mount_post_with_a_digest_counts_against_the_session_cap() {
    let reg = Registry::start_with_env(&[(
        "PQREG_REGISTRY__LIMITS__MAX_UPLOAD_SESSIONS_PER_CLIENT",
        "4",
    )]);
    let c = reg.client();
    let d = sha256(b"never pushed");
    let path = format!(
        "{}?mount={d}&from=nowhere/repo&digest={d}",
        uploads_path("cap/m")
    );
    for i in 0..4 {
        let r = c.must("POST", &path, &[], b"");
        assert_eq!(r.status, 202, "POST {i}: {}", r.text());
    }
    let r = c.must("POST", &path, &[], b"");
    assert_error(&r, 429, Some("TOOMANYREQUESTS"));
    let r = c.must("POST", &uploads_path("cap/m"), &[], b"");
    assert_error(&r, 429, Some("TOOMANYREQUESTS"));
}

/// Before the fix any 404 on `/uploads/<id>` (here: the right id through another
/// repository) freed the session's slot while the session lived on.
#[test]
fn a_404_through_another_repository_does_not_free_the_slot() {
    let reg = Registry::start_with_env(&[(
        "PQREG_REGISTRY__LIMITS__MAX_UPLOAD_SESSIONS_PER_CLIENT",
        "1",
    )]);
    let c = reg.client();
    let loc = open_session(&c, "cap/a");
    let id = loc.rsplit('/').next().unwrap().to_owned();
    for _ in 0..3 {
        let r = c.get(&format!("/v2/cap/b/blobs/uploads/{id}"));
        assert_error(&r, 404, Some("BLOB_UPLOAD_UNKNOWN"));
    }
    let r = c.must("POST", &uploads_path("cap/a"), &[], b"");
    assert_error(&r, 429, Some("TOOMANYREQUESTS"));
    // The session still works, and ending it frees the slot.
    assert_eq!(c.get(&loc).status, 204);
    assert_eq!(c.delete(&loc).status, 204);
    open_session(&c, "cap/a");
}

/// Before the fix a PUT with a wrong digest deleted the session but not its count: 429
/// with no session open.
#[test]
fn a_put_with_a_wrong_digest_frees_the_slot() {
    let reg = Registry::start_with_env(&[(
        "PQREG_REGISTRY__LIMITS__MAX_UPLOAD_SESSIONS_PER_CLIENT",
        "1",
    )]);
    let c = reg.client();
    let loc = open_session(&c, "cap/w");
    let r = c.must(
        "PUT",
        &with_query(&loc, "digest", &sha256(b"something else")),
        &[("Content-Type", "application/octet-stream")],
        b"these bytes",
    );
    assert_error(&r, 400, Some("DIGEST_INVALID"));
    // Before anything else touches the old session (a 404 on it freed slots before the fix).
    let fresh = open_session(&c, "cap/w");
    assert_eq!(c.get(&loc).status, 404, "the refused session ended");
    assert_eq!(c.get(&fresh).status, 204);
}

/// Before the fix any client with push rights on the repository could append to, finish
/// or cancel another client's session if it learned the id.
#[test]
fn only_the_owner_touches_a_session() {
    let mut reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("htpasswd");
    let users = [("alice", "alice-pw"), ("bob", "bob-pw")];
    let lines: String = users
        .iter()
        .map(|(u, p)| format!("{u}:{}\n", bcrypt::hash(p, 4).unwrap()))
        .collect();
    std::fs::write(&pw, lines).unwrap();
    reg.set_config(&format!(
        "[auth]\nmode = \"basic\"\nhtpasswd = \"{}\"\n[[auth.rules]]\nrepositories = [\"team/**\"]\nusers = [\"alice\", \"bob\"]\nactions = [\"pull\", \"push\", \"delete\"]\n",
        pw.display()
    ));
    reg.restart();
    let c = reg.client();
    let (alice, bob) = (basic("alice", "alice-pw"), basic("bob", "bob-pw"));
    let r = c.must(
        "POST",
        &uploads_path("team/m"),
        &[("Authorization", &alice)],
        b"",
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let loc = r.location().unwrap();
    let body = b"alice's bytes";
    let d = sha256(body);

    // Bob knows the id: to him the session does not exist.
    let auth_bob = [
        ("Authorization", bob.as_str()),
        ("Content-Type", "application/octet-stream"),
    ];
    assert_error(
        &c.must("GET", &loc, &auth_bob[..1], b""),
        404,
        Some("BLOB_UPLOAD_UNKNOWN"),
    );
    assert_error(
        &c.must("PATCH", &loc, &auth_bob, b"bob's bytes"),
        404,
        Some("BLOB_UPLOAD_UNKNOWN"),
    );
    assert_error(
        &c.must("PUT", &with_query(&loc, "digest", &d), &auth_bob, b""),
        404,
        Some("BLOB_UPLOAD_UNKNOWN"),
    );
    assert_error(
        &c.must("DELETE", &loc, &auth_bob[..1], b""),
        404,
        Some("BLOB_UPLOAD_UNKNOWN"),
    );

    // Alice's session is untouched and completes.
    let r = c.must(
        "PUT",
        &with_query(&loc, "digest", &d),
        &[
            ("Authorization", alice.as_str()),
            ("Content-Type", "application/octet-stream"),
        ],
        body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let got = c.get_with(&blob_path("team/m", &d), &[("Authorization", &alice)]);
    assert_bytes(&got.body, body, "alice's blob");
}
