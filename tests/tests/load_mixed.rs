//! A bounded load test on loopback (spec/auth.md): many concurrent clients mixing manifest
//! and blob pulls, pushes and requests that must be denied, against a registry with access
//! control on. Every answer must be the expected one (denials only where the policy says),
//! the server's resident memory must not keep growing between two equal rounds, and the
//! p50/p99 latency of manifest GETs is reported (printed, not asserted: timing is not a
//! test).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine;
use pqreg_tests::Registry;
use pqreg_tests::http::with_query;
use pqreg_tests::oci::{
    Desc, MT_CONFIG, MT_LAYER, MT_MANIFEST, image_manifest, manifest_path, push_image, sha256,
    uploads_path,
};

const CLIENTS: usize = 16;
const OPS_PER_ROUND: usize = 120;

fn basic(user: &str, pw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

#[derive(Default)]
struct Tally {
    manifest_get_us: Vec<u64>,
    ok: usize,
    denied: usize,
    unexpected: Vec<String>,
}

fn round(reg: &Registry, round_no: usize, layer: &str) -> Tally {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let writer = basic("writer", "w-pw");
    let reader = basic("reader", "r-pw");
    std::thread::scope(|s| {
        for client in 0..CLIENTS {
            let tally = tally.clone();
            let (writer, reader) = (writer.clone(), reader.clone());
            let c = reg.client();
            s.spawn(move || {
                for op in 0..OPS_PER_ROUND {
                    let kind = (client * 7 + op) % 10;
                    let t0 = Instant::now();
                    let (r, want, what) = match kind {
                        0..=4 => (
                            c.must(
                                "GET",
                                &manifest_path("load/model", "v1"),
                                &[("Authorization", &reader), ("Accept", MT_MANIFEST)],
                                b"",
                            ),
                            200,
                            "manifest GET",
                        ),
                        5 | 6 => (
                            c.must(
                                "GET",
                                &format!("/v2/load/model/blobs/{layer}"),
                                &[("Authorization", &reader)],
                                b"",
                            ),
                            200,
                            "blob GET",
                        ),
                        7 | 8 => {
                            // A small push: one blob (monolithic) and a manifest naming it.
                            let blob =
                                format!("round {round_no} client {client} op {op}").into_bytes();
                            let p =
                                with_query(&uploads_path("load/model"), "digest", &sha256(&blob));
                            let r = c.must(
                                "POST",
                                &p,
                                &[
                                    ("Authorization", &writer),
                                    ("Content-Type", "application/octet-stream"),
                                ],
                                &blob,
                            );
                            if r.status != 201 {
                                (r, 201, "blob push")
                            } else {
                                let cfg = b"{}".to_vec();
                                let m = image_manifest(
                                    &Desc::of(MT_CONFIG, &cfg),
                                    &[Desc::of(MT_LAYER, &blob)],
                                    serde_json::json!({}),
                                );
                                // The config blob `{}` was pushed once before the rounds.
                                let tag = format!("c{client}");
                                (
                                    c.must(
                                        "PUT",
                                        &manifest_path("load/model", &tag),
                                        &[
                                            ("Authorization", &writer),
                                            ("Content-Type", MT_MANIFEST),
                                        ],
                                        &m,
                                    ),
                                    201,
                                    "manifest PUT",
                                )
                            }
                        }
                        _ => (
                            // The reader may not push: 403 every time.
                            c.must(
                                "POST",
                                &uploads_path("load/model"),
                                &[("Authorization", &reader)],
                                b"",
                            ),
                            403,
                            "denied push",
                        ),
                    };
                    let us = t0.elapsed().as_micros() as u64;
                    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                    if r.status != want {
                        t.unexpected
                            .push(format!("{what}: {} {}", r.status, r.text()));
                    } else if want == 403 {
                        t.denied += 1;
                    } else {
                        t.ok += 1;
                    }
                    if what == "manifest GET" {
                        t.manifest_get_us.push(us);
                    }
                }
            });
        }
    });
    Arc::try_unwrap(tally)
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .unwrap_or_default()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0)
}

#[test]
fn mixed_load_with_denials_no_errors_no_memory_growth() {
    let dir = tempfile::tempdir().expect("tmp");
    let pw = dir.path().join("htpasswd");
    std::fs::write(
        &pw,
        format!(
            "writer:{}\nreader:{}\n",
            bcrypt::hash("w-pw", 4).expect("bcrypt"),
            bcrypt::hash("r-pw", 4).expect("bcrypt")
        ),
    )
    .expect("htpasswd");
    let mut reg = Registry::start();
    let c = reg.client();
    let (manifest, _) = push_image(&c, "load/model", "v1", 5, 1);
    let m: serde_json::Value = serde_json::from_slice(&manifest).expect("manifest");
    let layer = m["layers"][0]["digest"].as_str().expect("layer").to_owned();
    let p = with_query(&uploads_path("load/model"), "digest", &sha256(b"{}"));
    assert_eq!(c.must("POST", &p, &[], b"{}").status, 201);
    reg.set_config(&format!(
        "[auth]\nmode = \"basic\"\nhtpasswd = \"{}\"\n[[auth.rules]]\nrepositories = [\"load/**\"]\nusers = [\"writer\"]\nactions = [\"pull\", \"push\"]\n[[auth.rules]]\nrepositories = [\"load/**\"]\nusers = [\"reader\"]\nactions = [\"pull\"]\n",
        pw.display()
    ));
    reg.restart();

    // Warm-up round, then two measured rounds of the same work.
    let warm = round(&reg, 0, &layer);
    assert!(
        warm.unexpected.is_empty(),
        "{:?}",
        &warm.unexpected[..warm.unexpected.len().min(5)]
    );
    let rss_warm = reg.proc_status_kib("VmRSS").expect("VmRSS");
    let mut lat = Vec::new();
    let (mut ok, mut denied) = (0, 0);
    for n in 1..=2 {
        let t = round(&reg, n, &layer);
        assert!(
            t.unexpected.is_empty(),
            "round {n}: {:?}\n{}",
            &t.unexpected[..t.unexpected.len().min(5)],
            reg.log()
        );
        ok += t.ok;
        denied += t.denied;
        lat.extend(t.manifest_get_us);
    }
    let rss_end = reg.proc_status_kib("VmRSS").expect("VmRSS");
    lat.sort_unstable();
    eprintln!(
        "load_mixed: {CLIENTS} clients, {} requests ({ok} served, {denied} denied as expected); manifest GET p50 {} µs, p99 {} µs; RSS after warm-up {} KiB, after 2 rounds {} KiB",
        ok + denied,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        rss_warm,
        rss_end
    );
    assert!(denied > 0 && ok > denied);
    assert!(
        rss_end < rss_warm + 64 * 1024,
        "resident memory grew from {rss_warm} KiB to {rss_end} KiB over two equal rounds"
    );
    // The audit log recorded the denials.
    let audit = std::fs::read_to_string(reg.data_dir().join("audit.log")).expect("audit");
    assert!(
        audit
            .lines()
            .filter(|l| l.contains("\"allowed\":false"))
            .count()
            >= denied
    );
}
