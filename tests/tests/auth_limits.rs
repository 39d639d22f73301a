//! Cheap requests that cost the server much more (issue 15 §8, issue 12 §6), over real
//! HTTP against the real registry process:
//!
//! - an unknown user's wrong password costs what a known user's does (it used to cost
//!   bcrypt at the default cost, 12, whatever the file's entries use: user enumeration by
//!   timing);
//! - failed authentications are limited per client address and per user name, unknown
//!   names included (`429 TOOMANYREQUESTS` with `Retry-After`), without locking out other
//!   addresses or other users;
//! - `/metrics` costs the same with 20,000 blobs as with none (it walked the store);
//! - the catalog of a caller who may see little reads names in batches (it read two per
//!   transaction for `n=1`).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use base64::Engine;
use pqreg_tests::http::read_response;
use pqreg_tests::oci::*;
use pqreg_tests::{Registry, Response, with_query};

fn basic(user: &str, pw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

/// A Basic-auth registry with `users` (bcrypt at `cost`) and `extra` configuration.
fn basic_registry(users: &[(&str, &str)], cost: u32, extra: &str) -> (Registry, tempfile::TempDir) {
    let mut reg = Registry::start();
    let dir = tempfile::tempdir().expect("tmp");
    let pw = dir.path().join("htpasswd");
    let lines: String = users
        .iter()
        .map(|(u, p)| format!("{u}:{}\n", bcrypt::hash(p, cost).expect("bcrypt")))
        .collect();
    std::fs::write(&pw, lines).expect("write htpasswd");
    reg.set_config(&format!(
        "[auth]\nmode = \"basic\"\nhtpasswd = \"{}\"\n{extra}\n[[auth.rules]]\nrepositories = [\"**\"]\nusers = [\"*\"]\nactions = [\"pull\", \"push\"]\n",
        pw.display()
    ));
    reg.restart();
    (reg, dir)
}

/// `GET /v2/` with `Authorization`, sent from source address `127.0.0.<host>`.
fn login_from(reg: &Registry, host: u8, auth: &str) -> Response {
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)), 0);
    sock.bind(&from.into())
        .expect("bind a loopback source address");
    sock.connect(&reg.addr().into()).expect("connect");
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        s,
        "GET /v2/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: {auth}\r\n\r\n",
        reg.addr()
    )
    .expect("write request");
    read_response(s, false).expect("read response")
}

#[track_caller]
fn throttled(r: &Response, what: &str) {
    assert_eq!(r.status, 429, "{what}: {}", r.text());
    assert_eq!(r.error_codes(), ["TOOMANYREQUESTS"], "{what}");
    let wait: u64 = r
        .header("Retry-After")
        .unwrap_or_else(|| panic!("{what}: no Retry-After"))
        .parse()
        .expect("Retry-After is seconds");
    assert!(
        (1..=120).contains(&wait),
        "{what}: Retry-After {wait} (window 120 s)"
    );
}

#[test]
fn unknown_user_costs_what_a_known_user_costs() {
    // Cost 8 (~15 ms), far from bcrypt's default 12 (~250 ms) that unknown users used to
    // cost. The limits are off so that every attempt runs bcrypt.
    let (reg, _dir) = basic_registry(
        &[("alice", "alice-pw"), ("bob", "bob-pw")],
        8,
        "[auth.failures]\nper_address = 0\nper_user = 0\n",
    );
    let c = reg.client();
    let time = |user: &str| {
        let t = Instant::now();
        let r = c.get_with("/v2/", &[("Authorization", &basic(user, "wrong"))]);
        assert_eq!(r.status, 401, "{user}");
        t.elapsed()
    };
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    // Several tries, interleaved, so that load on the machine hits both sides alike.
    let mut ratios = Vec::new();
    for _ in 0..3 {
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for i in 0..7 {
            known.push(time(if i % 2 == 0 { "alice" } else { "bob" }));
            unknown.push(time(&format!("nobody-{i}")));
        }
        let (k, u) = (median(known), median(unknown));
        ratios.push((u.as_secs_f64() / k.as_secs_f64(), k, u));
    }
    // The middle try must be within 0.5x..2x (one noisy try does not decide).
    ratios.sort_by(|a, b| a.0.total_cmp(&b.0));
    eprintln!("unknown/known (ratio, known, unknown) per try: {ratios:?}");
    let (ratio, k, u) = ratios[1];
    assert!(
        (0.5..=2.0).contains(&ratio),
        "unknown/known = {ratio:.2} (known {k:?}, unknown {u:?}); all tries: {ratios:?}"
    );
}

#[test]
fn failed_logins_are_limited_per_address_and_per_user() {
    let (reg, _dir) = basic_registry(
        &[("alice", "alice-pw"), ("bob", "bob-pw")],
        4,
        "[auth.failures]\nper_address = 5\nper_user = 8\nwindow_secs = 120\n",
    );
    // Alice logs in once: her password is now verified (cached for a minute).
    assert_eq!(login_from(&reg, 1, &basic("alice", "alice-pw")).status, 200);

    // One address guessing an unknown user: 5 failures, then 429 for anything it tries,
    // even a right password (nothing is checked once the address is throttled).
    for i in 0..5 {
        let r = login_from(&reg, 2, &basic(&format!("ghost{i}"), "guess"));
        assert_eq!(r.status, 401, "attempt {i}: {}", r.text());
    }
    throttled(
        &login_from(&reg, 2, &basic("ghost9", "guess")),
        "6th from .2",
    );
    throttled(&login_from(&reg, 2, &basic("bob", "bob-pw")), "bob from .2");
    // Another address is not slowed.
    assert_eq!(login_from(&reg, 3, &basic("bob", "bob-pw")).status, 200);

    // One user name guessed from several addresses (4 each, under the address limit):
    // after 8 failures that name is throttled from everywhere; other users are not.
    for host in [4, 5] {
        for _ in 0..4 {
            assert_eq!(login_from(&reg, host, &basic("alice", "guess")).status, 401);
        }
    }
    throttled(
        &login_from(&reg, 6, &basic("alice", "guess")),
        "alice from .6",
    );
    assert_eq!(login_from(&reg, 6, &basic("bob", "bob-pw")).status, 200);
    // Alice herself still gets in with the password she used a moment ago.
    assert_eq!(login_from(&reg, 6, &basic("alice", "alice-pw")).status, 200);

    // Unknown names count per name too.
    for host in [7, 8] {
        for _ in 0..4 {
            assert_eq!(login_from(&reg, host, &basic("nosuch", "x")).status, 401);
        }
    }
    throttled(&login_from(&reg, 9, &basic("nosuch", "x")), "unknown name");
    // Requests without credentials are not affected.
    let r = reg.client().get(&manifest_path("a/b", "v1"));
    assert_eq!(r.status, 401);
}

/// Median time of `GET /metrics` over several scrapes, and the last body.
fn scrape(reg: &Registry) -> (Duration, String) {
    let c = reg.client();
    let first = c.get("/metrics");
    assert_eq!(first.status, 200);
    let mut times = Vec::new();
    let mut body = String::new();
    for _ in 0..9 {
        let t = Instant::now();
        let r = c.get("/metrics");
        times.push(t.elapsed());
        assert_eq!(r.status, 200);
        body = r.text();
    }
    times.sort();
    (times[times.len() / 2], body)
}

fn gauge(body: &str, name: &str) -> u64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[test]
fn metrics_cost_does_not_grow_with_the_store() {
    const BLOBS: usize = 20_000;
    let small = Registry::start();
    let mut big = Registry::start();
    // Fill the big store's blob directory while it is stopped (the layout of
    // registry/src/storage/fs.rs); pushing 20k blobs over HTTP would take minutes.
    big.kill9();
    let root = big.data_dir().join("blobs").join("sha256");
    let mut total = 0u64;
    for i in 0..BLOBS {
        let bytes = format!("blob {i}");
        let d = sha256(bytes.as_bytes());
        let hex = &d["sha256:".len()..];
        let dir = root.join(&hex[..2]);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(hex), bytes.as_bytes()).expect("write blob");
        total += bytes.len() as u64;
    }
    big.restart();

    let (t_small, _) = scrape(&small);
    let (t_big, body) = scrape(&big);
    eprintln!("/metrics median: {BLOBS} blobs {t_big:?}, empty store {t_small:?}");
    assert_eq!(gauge(&body, "pqreg_store_blobs"), BLOBS as u64);
    assert_eq!(gauge(&body, "pqreg_store_bytes"), total);
    // Generous: a walk of 20k files takes tens of milliseconds, a scrape one or two.
    assert!(
        t_big < t_small * 3 + Duration::from_millis(5),
        "/metrics with {BLOBS} blobs: {t_big:?}, with none: {t_small:?}"
    );

    // The totals follow commits: a new blob adds, the same blob again does not.
    let c = big.client();
    let blob = random_bytes(5, 1000);
    push_blob(&c, "m/r", &blob);
    push_blob(&c, "m/other", &blob);
    let (_, body) = scrape(&big);
    assert_eq!(gauge(&body, "pqreg_store_blobs"), BLOBS as u64 + 1);
    assert_eq!(gauge(&body, "pqreg_store_bytes"), total + 1000);
}

/// Median time of `GET path` as `auth` over several requests.
fn timed(c: &pqreg_tests::Client, path: &str, auth: &str) -> Duration {
    let mut times = Vec::new();
    for _ in 0..9 {
        let t = Instant::now();
        let r = c.get_with(path, &[("Authorization", auth)]);
        times.push(t.elapsed());
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    times.sort();
    times[times.len() / 2]
}

#[test]
fn catalog_of_a_caller_who_sees_little_reads_in_batches() {
    const REPOS: usize = 3000;
    let mut reg = Registry::start();
    let c = reg.client();
    // Monolithic pushes create the repositories (one request each).
    for i in 0..REPOS {
        let blob = format!("r{i}");
        let path = with_query(
            &uploads_path(&format!("team/r{i:05}")),
            "digest",
            &sha256(blob.as_bytes()),
        );
        let r = c.must(
            "POST",
            &path,
            &[("Content-Type", "application/octet-stream")],
            blob.as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let dir = tempfile::tempdir().expect("tmp");
    let pw = dir.path().join("htpasswd");
    let line = |u: &str| {
        format!(
            "{u}:{}\n",
            bcrypt::hash(format!("{u}-pw"), 4).expect("bcrypt")
        )
    };
    std::fs::write(&pw, line("admin") + &line("outsider")).expect("htpasswd");
    reg.set_config(&format!(
        "[auth]\nmode = \"basic\"\nhtpasswd = \"{}\"\n[[auth.rules]]\nrepositories = [\"**\"]\nusers = [\"admin\"]\nactions = [\"pull\"]\n[[auth.rules]]\nrepositories = [\"team/r02999\"]\nusers = [\"outsider\"]\nactions = [\"pull\"]\n",
        pw.display()
    ));
    reg.restart();
    let c = reg.client();
    let (admin, outsider) = (basic("admin", "admin-pw"), basic("outsider", "outsider-pw"));
    // The outsider sees one repository, the last: finding it reads every name.
    let r = c.get_with("/v2/_catalog?n=1", &[("Authorization", &outsider)]);
    assert_eq!(r.json()["repositories"], serde_json::json!(["team/r02999"]));
    let t_admin = timed(&c, "/v2/_catalog?n=1", &admin);
    let t_outsider = timed(&c, "/v2/_catalog?n=1", &outsider);
    eprintln!("catalog n=1 over {REPOS} repositories: admin {t_admin:?}, outsider {t_outsider:?}");
    // Before: two names per read transaction for n=1, 1500 transactions for the outsider
    // (measured 59 ms vs 0.55 ms for the admin; after: 6.6 ms, the filter itself).
    assert!(
        t_outsider < t_admin * 5 + Duration::from_millis(20),
        "outsider {t_outsider:?} vs admin {t_admin:?}"
    );
}

/// The failure counters hold at most 65,536 keys; once that many user names are live in
/// the window, a new name used to be counted nowhere: an attacker who first fails once
/// for each of 65,536 made-up names then guesses a real user's password without limit
/// (found by the attack review). Cheap here (bcrypt cost 4, no address limit); with an
/// address limit the same takes 65,536 source addresses, which one IPv6 /48 holds.
#[test]
fn a_full_failure_table_still_limits_a_guessed_user() {
    let (reg, _dir) = basic_registry(
        &[("alice", "alice-pw")],
        4,
        "[auth.failures]\nper_address = 0\nper_user = 8\nwindow_secs = 3600\n",
    );
    let c = reg.client();
    for i in 0..65_536 {
        let r = c.get_with(
            "/v2/",
            &[("Authorization", &basic(&format!("junk{i}"), "x"))],
        );
        assert_eq!(r.status, 401, "filler {i}: {}", r.text());
    }
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            c.get_with("/v2/", &[("Authorization", &basic("alice", "guess"))])
                .status,
        );
    }
    assert!(
        statuses.contains(&429),
        "12 wrong passwords for alice after the table filled, none throttled: {statuses:?}"
    );
}
