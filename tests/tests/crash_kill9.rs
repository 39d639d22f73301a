//! Crash safety: concurrent chunked uploads, monolithic uploads and manifest pushes while the
//! registry is killed with SIGKILL after a number of request-body bytes chosen from a fixed
//! seed (no timing: the kill happens inside the write that crosses the budget). After a
//! restart on the same data directory:
//!
//! - every blob acknowledged with 201 reads back byte for byte;
//! - no blob whose upload was not completed is visible;
//! - a blob whose final request got no answer is either absent or exact;
//! - every tag resolves to a manifest whose digest matches and whose blobs exist, and every
//!   acknowledged tag points where it was pushed;
//! - every interrupted chunked upload resumes (GET session -> `Range` -> PATCH the rest ->
//!   PUT) if any chunk of it was acknowledged, else can be redone;
//! - `pqreg-registry gc` on the stopped store succeeds, and everything acknowledged survives.

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use pqreg_tests::http::read_response;
use pqreg_tests::oci::*;
use pqreg_tests::server::run_registry_command;
use pqreg_tests::{Client, Killer, Registry, with_query};
use serde_json::json;

/// Bytes of request bodies that may still be sent before the registry is killed.
struct Budget {
    remaining: Mutex<u64>,
    killer: Killer,
}

impl Budget {
    /// Writes `buf` in pieces, drawing from the budget; the write that exhausts it kills the
    /// server right after its last byte and every later write fails.
    /// `written` counts this caller's bytes that went out.
    fn write(&self, s: &mut TcpStream, buf: &[u8], written: &mut u64) -> io::Result<()> {
        for piece in buf.chunks(16 * 1024) {
            let mut rem = self.remaining.lock().unwrap_or_else(|e| e.into_inner());
            if *rem == 0 {
                return Err(io::Error::other("killed"));
            }
            let n = (*rem).min(piece.len() as u64) as usize;
            // Write while holding the lock, so "bytes sent before the kill" is exact.
            let res = s.write_all(&piece[..n]);
            *rem -= n as u64;
            if res.is_ok() {
                *written += n as u64;
            }
            if *rem == 0 {
                let _ = s.flush();
                self.killer.kill9();
                return Err(io::Error::other("killed"));
            }
            res?;
        }
        Ok(())
    }
}

/// Sends one request whose body is drawn from the budget.
fn send(
    c: &Client,
    b: &Budget,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    sent: &mut u64,
) -> io::Result<pqreg_tests::Response> {
    let mut s = c.start(method, path, headers, Some(body.len() as u64))?;
    b.write(&mut s, body, sent)?;
    read_response(s, false)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    /// 201 received.
    Acked,
    /// The finishing request was sent completely but no answer came.
    InDoubt,
    /// The finishing request never went out completely.
    NotFinished,
}

#[derive(Debug)]
struct BlobRecord {
    repo: String,
    data: Vec<u8>,
    digest: String,
    fate: Fate,
    /// Chunked uploads: the session, bytes acknowledged by 202s, bytes written at most.
    session: Option<String>,
    acked: u64,
    sent: u64,
}

fn chunked_upload(c: &Client, b: &Budget, repo: &str, data: Vec<u8>, chunk: usize) -> BlobRecord {
    let digest = sha256(&data);
    let mut rec = BlobRecord {
        repo: repo.to_owned(),
        data,
        digest,
        fate: Fate::NotFinished,
        session: None,
        acked: 0,
        sent: 0,
    };
    let Ok(r) = c.request("POST", &uploads_path(repo), &[], b"") else {
        return rec;
    };
    if r.status != 202 {
        return rec;
    }
    rec.session = r.location();
    let mut loc = rec.session.clone().expect("Location");
    let mut off = 0;
    while off < rec.data.len() {
        let end = (off + chunk).min(rec.data.len());
        let range = format!("{off}-{}", end - 1);
        let mut sent = 0;
        let body = rec.data[off..end].to_vec();
        let r = send(
            c,
            b,
            "PATCH",
            &loc,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", &range),
            ],
            &body,
            &mut sent,
        );
        rec.sent = off as u64 + sent;
        match r {
            Ok(r) if r.status == 202 => {
                rec.acked = end as u64;
                loc = r.location().unwrap_or(loc);
                // Resume from the newest Location (some registries carry state in it).
                rec.session = Some(loc.clone());
                off = end;
            }
            Ok(r) => panic!("PATCH {range} answered {}: {}", r.status, r.text()),
            Err(_) => return rec,
        }
    }
    match c.request("PUT", &with_query(&loc, "digest", &rec.digest), &[], b"") {
        Ok(r) if r.status == 201 => rec.fate = Fate::Acked,
        Ok(r) => panic!("PUT answered {}: {}", r.status, r.text()),
        Err(_) => rec.fate = Fate::InDoubt,
    }
    rec
}

/// POST then a monolithic PUT whose body is drawn from the budget (what skopeo and docker do).
fn monolithic_upload(c: &Client, b: &Budget, repo: &str, data: Vec<u8>) -> BlobRecord {
    let digest = sha256(&data);
    let mut rec = BlobRecord {
        repo: repo.to_owned(),
        data,
        digest,
        fate: Fate::NotFinished,
        session: None,
        acked: 0,
        sent: 0,
    };
    let loc = match c.request("POST", &uploads_path(repo), &[], b"") {
        Ok(r) if r.status == 202 => r.location().expect("Location"),
        Ok(r) => panic!("POST uploads answered {}: {}", r.status, r.text()),
        Err(_) => return rec,
    };
    let r = send(
        c,
        b,
        "PUT",
        &with_query(&loc, "digest", &rec.digest),
        &[("Content-Type", "application/octet-stream")],
        &rec.data,
        &mut rec.sent,
    );
    rec.fate = match r {
        Ok(r) if r.status == 201 => Fate::Acked,
        Ok(r) => panic!("monolithic PUT answered {}: {}", r.status, r.text()),
        Err(_) if rec.sent == rec.data.len() as u64 => Fate::InDoubt,
        Err(_) => Fate::NotFinished,
    };
    rec
}

#[derive(Debug)]
struct TagRecord {
    repo: String,
    tag: String,
    digest: String,
    fate: Fate,
}

/// Pushes `n` small images one after the other (blobs then manifest), recording each step.
fn image_pusher(
    c: &Client,
    b: &Budget,
    repo: &str,
    seed: u64,
    n: usize,
) -> (Vec<BlobRecord>, Vec<TagRecord>) {
    let mut rng = Rng::new(seed);
    let mut blobs = Vec::new();
    let mut tags = Vec::new();
    for i in 0..n {
        let len = rng.range(10_000, 80_000) as usize;
        let layer = rng.bytes(len);
        let config = serde_json::to_vec(&json!({"image": i, "seed": seed})).expect("json");
        let mut ok = true;
        for data in [config.clone(), layer.clone()] {
            let rec = monolithic_upload(c, b, repo, data);
            ok &= rec.fate == Fate::Acked;
            blobs.push(rec);
        }
        if !ok {
            break;
        }
        let m = image_manifest(
            &Desc::of(MT_CONFIG, &config),
            &[Desc::of(MT_LAYER, &layer)],
            json!({}),
        );
        let tag = format!("img{i}");
        let mut sent = 0;
        let r = send(
            c,
            b,
            "PUT",
            &manifest_path(repo, &tag),
            &[("Content-Type", MT_MANIFEST)],
            &m,
            &mut sent,
        );
        let fate = match r {
            Ok(r) if r.status == 201 => Fate::Acked,
            Ok(r) => panic!("manifest PUT answered {}: {}", r.status, r.text()),
            Err(_) if sent == m.len() as u64 => Fate::InDoubt,
            Err(_) => Fate::NotFinished,
        };
        tags.push(TagRecord {
            repo: repo.to_owned(),
            tag,
            digest: sha256(&m),
            fate,
        });
        if fate != Fate::Acked {
            break;
        }
    }
    (blobs, tags)
}

/// Re-tags one already-pushed image with new annotations, `n` times: many small manifest
/// pushes, so some are acknowledged before the kill and one is usually in flight.
fn tagger(
    c: &Client,
    b: &Budget,
    repo: &str,
    config: &Desc,
    layer: &Desc,
    n: usize,
) -> Vec<TagRecord> {
    let mut tags = Vec::new();
    for i in 0..n {
        let m = image_manifest(
            config,
            std::slice::from_ref(layer),
            json!({"annotations": {"n": i.to_string()}}),
        );
        let tag = format!("t{i:04}");
        let mut sent = 0;
        let r = send(
            c,
            b,
            "PUT",
            &manifest_path(repo, &tag),
            &[("Content-Type", MT_MANIFEST)],
            &m,
            &mut sent,
        );
        let fate = match r {
            Ok(r) if r.status == 201 => Fate::Acked,
            Ok(r) => panic!("manifest PUT answered {}: {}", r.status, r.text()),
            Err(_) if sent == m.len() as u64 => Fate::InDoubt,
            Err(_) => Fate::NotFinished,
        };
        tags.push(TagRecord {
            repo: repo.to_owned(),
            tag,
            digest: sha256(&m),
            fate,
        });
        if fate != Fate::Acked {
            break;
        }
    }
    tags
}

/// The offset a session's `Range: 0-<end>` header stands for. `0-0` is ambiguous (empty, or
/// one byte): both are returned, to be tried in order.
fn offsets(range: &str) -> Vec<u64> {
    let end: u64 = range
        .split_once('-')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or_else(|| panic!("malformed Range {range:?}"));
    if end == 0 { vec![0, 1] } else { vec![end + 1] }
}

fn check_store(c: &Client, blobs: &[BlobRecord], tags: &[TagRecord]) {
    for b in blobs {
        let r = c.get(&blob_path(&b.repo, &b.digest));
        match b.fate {
            Fate::Acked => {
                assert_eq!(r.status, 200, "acknowledged blob {} lost", b.digest);
                assert!(r.body == b.data, "acknowledged blob {} corrupted", b.digest);
            }
            Fate::InDoubt => {
                assert!(
                    r.status == 404 || (r.status == 200 && r.body == b.data),
                    "in-doubt blob {}: {}",
                    b.digest,
                    r.status
                );
            }
            Fate::NotFinished => {
                assert_eq!(
                    r.status, 404,
                    "blob {} visible though its upload never finished",
                    b.digest
                );
            }
        }
    }
    let mut repos: Vec<&str> = tags.iter().map(|t| t.repo.as_str()).collect();
    repos.dedup();
    for repo in repos {
        let r = c.get(&format!("/v2/{repo}/tags/list"));
        let listed: Vec<String> = if r.status == 404 {
            Vec::new()
        } else {
            assert_eq!(r.status, 200, "{}", r.text());
            serde_json::from_value(r.json()["tags"].clone()).unwrap_or_default()
        };
        for tag in &listed {
            let m = get_manifest(c, repo, tag);
            assert_eq!(m.status, 200, "tag {repo}:{tag} is listed but dangling");
            assert_eq!(
                m.header("Docker-Content-Digest"),
                Some(sha256(&m.body).as_str())
            );
            let v = m.json();
            let mut refs = vec![v["config"]["digest"].as_str().expect("config").to_owned()];
            for l in v["layers"].as_array().expect("layers") {
                refs.push(l["digest"].as_str().expect("digest").to_owned());
            }
            for d in refs {
                assert_eq!(
                    c.head(&blob_path(repo, &d)).status,
                    200,
                    "{repo}:{tag} references missing blob {d}"
                );
            }
        }
        for t in tags.iter().filter(|t| t.repo == repo) {
            let r = get_manifest(c, repo, &t.tag);
            match t.fate {
                Fate::Acked => {
                    assert_eq!(r.status, 200, "acknowledged tag {repo}:{} lost", t.tag);
                    assert_eq!(sha256(&r.body), t.digest);
                    assert!(listed.contains(&t.tag));
                }
                Fate::InDoubt => assert!(r.status == 404 || sha256(&r.body) == t.digest),
                Fate::NotFinished => assert_eq!(
                    r.status, 404,
                    "tag {repo}:{} exists though its PUT was cut short",
                    t.tag
                ),
            }
        }
    }
}

/// Finishes every chunked upload that did not get its 201.
fn resume_uploads(c: &Client, blobs: &mut [BlobRecord]) -> usize {
    let mut resumed = 0;
    for b in blobs
        .iter_mut()
        .filter(|b| b.session.is_some() && b.fate != Fate::Acked)
    {
        let loc = b.session.as_deref().expect("session");
        let status = c.get(loc);
        if status.status == 404 {
            assert_eq!(
                b.acked,
                0,
                "session {loc} with {} acknowledged bytes did not survive the restart: {}",
                b.acked,
                status.text()
            );
            push_blob(c, &b.repo, &b.data);
        } else if b.fate == Fate::InDoubt && c.head(&blob_path(&b.repo, &b.digest)).status == 200 {
            b.fate = Fate::Acked;
            continue;
        } else {
            assert_eq!(status.status, 204, "GET session {loc}: {}", status.text());
            let range = status.header("Range").expect("session status has Range");
            let loc = status.location().unwrap_or_else(|| loc.to_owned());
            let mut done = false;
            for off in offsets(range) {
                assert!(
                    off >= b.acked,
                    "session {loc} lost acknowledged bytes: Range {range}, acked {}",
                    b.acked
                );
                assert!(
                    off <= b.sent,
                    "session {loc} claims more than was sent: Range {range}, sent {}",
                    b.sent
                );
                let len = b.data.len() as u64;
                let r = if off < len {
                    let cr = format!("{off}-{}", len - 1);
                    c.must(
                        "PATCH",
                        &loc,
                        &[("Content-Range", &cr)],
                        &b.data[off as usize..],
                    )
                } else {
                    c.get(&loc)
                };
                if r.status == 416 {
                    continue;
                }
                assert!(
                    matches!(r.status, 202 | 204),
                    "PATCH rest from {off}: {} {}",
                    r.status,
                    r.text()
                );
                let loc = r.location().unwrap_or_else(|| loc.clone());
                let r = c.must("PUT", &with_query(&loc, "digest", &b.digest), &[], b"");
                assert_eq!(r.status, 201, "PUT after resume from {off}: {}", r.text());
                done = true;
                resumed += 1;
                break;
            }
            assert!(done, "could not resume {loc} (Range {range})");
        }
        assert_bytes(
            &c.get(&blob_path(&b.repo, &b.digest)).body,
            &b.data,
            "resumed blob exact",
        );
        // From here on the blob is acknowledged like any other.
        b.fate = Fate::Acked;
    }
    resumed
}

fn crash_round(seed: u64, run_gc: bool) {
    let mut reg = Registry::start();
    let c = reg.client();
    let mut rng = Rng::new(seed);
    // About 4 x 1.5 MB chunked + 3 x 4 images of ~45 KB: ~6.5 MB of bodies in all.
    let total_estimate = 10_000_000u64;
    // Below the smallest possible workload (4 x 1 MB + 12 x 10 KB), so the kill always comes.
    let kill_after = rng.range(total_estimate / 5, total_estimate * 2 / 5);
    let budget = Arc::new(Budget {
        remaining: Mutex::new(kill_after),
        killer: reg.killer(),
    });

    // Acknowledged before the concurrent phase: an image the tagger re-tags.
    let config = serde_json::to_vec(&json!({"base": seed})).expect("json");
    let layer = rng.bytes(20_000);
    push_blob(&c, "crash/tagged", &config);
    push_blob(&c, "crash/tagged", &layer);
    let (config_d, layer_d) = (Desc::of(MT_CONFIG, &config), Desc::of(MT_LAYER, &layer));

    let (mut blobs, mut tags) = (Vec::new(), Vec::new());
    std::thread::scope(|s| {
        let tagger = {
            let budget = Arc::clone(&budget);
            let (config_d, layer_d) = (&config_d, &layer_d);
            s.spawn(move || tagger(&c, &budget, "crash/tagged", config_d, layer_d, 2000))
        };
        let mut chunked = Vec::new();
        for i in 0..4u64 {
            let len = rng.range(1_000_000, 2_000_000) as usize;
            let data = rng.bytes(len);
            let chunk = rng.range(100_000, 300_000) as usize;
            let budget = Arc::clone(&budget);
            chunked.push(s.spawn(move || {
                chunked_upload(&c, &budget, &format!("crash/chunked{}", i % 2), data, chunk)
            }));
        }
        let mut images = Vec::new();
        for i in 0..3u64 {
            let budget = Arc::clone(&budget);
            let seed = rng.next_u64();
            images.push(
                s.spawn(move || image_pusher(&c, &budget, &format!("crash/images{i}"), seed, 4)),
            );
        }
        for h in chunked {
            blobs.push(h.join().expect("uploader"));
        }
        tags.extend(tagger.join().expect("tagger"));
        for h in images {
            let (b, t) = h.join().expect("pusher");
            blobs.extend(b);
            tags.extend(t);
        }
    });
    let killed = *budget.remaining.lock().expect("budget") == 0;
    assert!(
        killed,
        "seed {seed}: the kill point {kill_after} was past the end of the workload"
    );
    eprintln!(
        "seed {seed}: killed after {kill_after} body bytes; blobs acked {} in-doubt {} unfinished {}; tags acked {}",
        blobs.iter().filter(|b| b.fate == Fate::Acked).count(),
        blobs.iter().filter(|b| b.fate == Fate::InDoubt).count(),
        blobs.iter().filter(|b| b.fate == Fate::NotFinished).count(),
        tags.iter().filter(|t| t.fate == Fate::Acked).count(),
    );

    reg.restart();
    let c = reg.client();
    check_store(&c, &blobs, &tags);
    let resumed = resume_uploads(&c, &mut blobs);
    eprintln!("seed {seed}: {resumed} chunked uploads resumed from their session");
    check_store(&c, &blobs, &tags);

    if run_gc {
        reg.kill9();
        let dir = reg.data_dir();
        let (ok, out, err) =
            run_registry_command(&["gc", "--data-dir", dir.to_str().expect("utf-8 path")]);
        assert!(ok, "pqreg-registry gc failed:\n{out}\n{err}");
        eprintln!("gc report: {out}");
        reg.restart();
        let c = reg.client();
        check_store(&c, &blobs, &tags);
    }
}

#[test]
fn crash_seed_1() {
    crash_round(1, true);
}

#[test]
fn crash_seed_2() {
    crash_round(2, false);
}

#[test]
fn crash_seed_3() {
    crash_round(3, false);
}
