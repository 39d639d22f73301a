//! Transparency-log benchmark driver for `tests/bench/log_bench.sh` (build with
//! `--release`). Subcommands:
//!
//! - `fill <data-dir> <count>`: appends `count` signature entries offline through the
//!   sequencer (`Log::append_bulk`, batches of 16384: one transaction and one checkpoint
//!   signature each), then prints the time and the log's bytes on disk.
//! - `append <url> <submitters> <per>`: pushes a model, pre-signs `submitters * per`
//!   ML-DSA-65 statements over it and encodes each as a whole HTTP/1.1 request, then
//!   times `POST /log/v1/entries` from `submitters` concurrent submitters, one keep-alive
//!   connection each, all driven by one thread, checking every answer (status 200, an
//!   index below the size): appends/s, latency percentiles and the load generator's own
//!   CPU per append.
//! - `proofs <url> <n>`: times `n` inclusion and `n` consistency proof requests at the
//!   newest checkpoint's size, one at a time, random indices: p50/p99/max.
//! - `stats <data-dir>`: redb's accounting of the log database (stored bytes, bytes lost
//!   to page fragmentation).
//! - `verify-cost <n>`: CPU time of checking one submission in-process (JSON, SPKI,
//!   ML-DSA-65 verification, statement), and of the bare ML-DSA-65 verification.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use pqreg_registry::tlog::Log;
use pqreg_registry::tlog::submission::Submission;
use pqreg_spec::Digest;
use pqreg_spec::dsse::{Envelope, pae};
use pqreg_spec::keys::{KeyId, SignatureAlgorithm, SigningKey};
use pqreg_spec::logentry::LogEntry;
use pqreg_spec::statement::{FileEntry, PAYLOAD_TYPE, Statement};
use serde_json::{Value, json};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Milliseconds at the `p`th percentile of sorted durations.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn report(what: &str, mut d: Vec<Duration>) {
    d.sort();
    println!(
        "{what}: n={} p50={:.3} ms p99={:.3} ms max={:.3} ms",
        d.len(),
        pct(&d, 0.5),
        pct(&d, 0.99),
        pct(&d, 1.0)
    );
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn fill(dir: &str, count: u64) {
    let dir = std::path::Path::new(dir);
    let log = Log::open(dir, "bench.example/log", vec![]).unwrap();
    let start = log.head().size;
    let signers: Vec<KeyId> = (0..64u64)
        .map(|k| KeyId(Digest::sha256(&k.to_le_bytes())))
        .collect();
    let t0 = Instant::now();
    let mut i = start;
    while i < start + count {
        let end = (start + count).min(i + 16384);
        let batch: Vec<LogEntry> = (i..end)
            .map(|n| {
                LogEntry::signature(
                    &format!("bench/model-{}", n % 1000),
                    None,
                    Digest::sha256(&n.to_be_bytes()),
                    Digest::sha256(&n.to_le_bytes()),
                    signers[(n % 64) as usize],
                    1_764_115_200 + n,
                )
                .unwrap()
            })
            .collect();
        log.append_bulk(&batch).unwrap();
        i = end;
    }
    let dt = t0.elapsed().as_secs_f64();
    drop(log);
    let bytes = dir_bytes(&dir.join("log"));
    let total = start + count;
    println!(
        "fill: {count} entries in {dt:.1} s ({:.0} entries/s); log now {total} entries, {bytes} bytes on disk ({:.0} bytes/entry)",
        count as f64 / dt,
        bytes as f64 / total as f64
    );
}

fn push_model(a: &ureq::Agent, base: &str) -> Digest {
    let blob = |data: &[u8]| {
        let d = Digest::sha256(data);
        let r = a
            .post(format!("{base}/v2/bench/model/blobs/uploads/?digest={d}"))
            .send(data)
            .unwrap();
        assert_eq!(r.status(), 201);
        d
    };
    let (c, l) = (blob(b"{}"), blob(b"weights"));
    let m = serde_json::to_vec(&json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c.to_string(), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l.to_string(), "size": 7}]}))
    .unwrap();
    let r = a
        .put(format!("{base}/v2/bench/model/manifests/v1"))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .send(&m[..])
        .unwrap();
    assert_eq!(r.status(), 201);
    Digest::sha256(&m)
}

fn body(key: &SigningKey, manifest: Digest, n: u64) -> Vec<u8> {
    let f = FileEntry {
        path: "model.safetensors".into(),
        digest: Digest::sha256(&n.to_be_bytes()),
        size: 8,
    };
    let payload = Statement::from_files("m", &[f], Some(manifest))
        .unwrap()
        .to_json();
    let env = Envelope::sign(PAYLOAD_TYPE, payload, &[key]).unwrap();
    let env: Value = serde_json::from_slice(&env.to_json()).unwrap();
    let spki = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_spki_der());
    serde_json::to_vec(
        &json!({"repository": "bench/model", "manifest": manifest.to_string(),
        "dsseEnvelope": env, "publicKey": spki}),
    )
    .unwrap()
}

/// One whole HTTP/1.1 request for `POST /log/v1/entries`, built before the timed phase.
fn request(host: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /log/v1/entries HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// The unsigned number after `"key":` in a JSON object's text.
fn json_u64(text: &[u8], key: &str) -> Option<u64> {
    let pat = format!("\"{key}\":");
    let at = text.windows(pat.len()).position(|w| w == pat.as_bytes())? + pat.len();
    let digits: &[u8] = &text[at..];
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&digits[..n]).ok()?.parse().ok()
}

/// Sends one request on a keep-alive connection and reads the whole answer (status and
/// body; the server answers with Content-Length). `buf` is reused between calls.
async fn exchange(
    conn: &mut tokio::net::TcpStream,
    req: &[u8],
    buf: &mut Vec<u8>,
) -> (u16, std::ops::Range<usize>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    conn.write_all(req).await.unwrap();
    buf.clear();
    let mut scanned = 0;
    let head_end = loop {
        if conn.read_buf(buf).await.unwrap() == 0 {
            panic!("server closed the connection");
        }
        if let Some(i) = buf[scanned..].windows(4).position(|w| w == b"\r\n\r\n") {
            break scanned + i + 4;
        }
        scanned = buf.len().saturating_sub(3);
    };
    let head = std::str::from_utf8(&buf[..head_end]).unwrap();
    let status: u16 = head.get(9..12).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .expect("answer without Content-Length");
    while buf.len() < head_end + len {
        if conn.read_buf(buf).await.unwrap() == 0 {
            panic!("server closed the connection");
        }
    }
    assert_eq!(buf.len(), head_end + len, "more bytes than one answer");
    (status, head_end..head_end + len)
}

/// One submitter: its requests in order on one keep-alive connection, each answer
/// checked (status 200, an index below the size). Returns latencies and sizes.
async fn submitter(host: String, reqs: Vec<Vec<u8>>) -> (Vec<Duration>, Vec<u64>) {
    let mut conn = tokio::net::TcpStream::connect(&host).await.unwrap();
    conn.set_nodelay(true).unwrap();
    let mut buf = Vec::with_capacity(16384);
    let mut lat = Vec::with_capacity(reqs.len());
    let mut sizes = Vec::with_capacity(reqs.len());
    for req in reqs {
        let t = Instant::now();
        let (status, body) = exchange(&mut conn, &req, &mut buf).await;
        lat.push(t.elapsed());
        let answer = &buf[body];
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(answer));
        let index = json_u64(answer, "index").expect("answer without index");
        let size = json_u64(answer, "size").expect("answer without size");
        assert!(index < size);
        sizes.push(size);
    }
    (lat, sizes)
}

fn append(base: &str, submitters: u64, per: u64) {
    let manifest = push_model(&agent(), base);
    let host = base.strip_prefix("http://").unwrap().to_owned();
    let t0 = Instant::now();
    // Pre-signed and pre-encoded: the timed phase only writes requests and reads answers,
    // so the load generator's CPU (which shares the machine) stays small.
    let requests: Vec<Vec<Vec<u8>>> = (0..submitters)
        .map(|s| {
            let key = SigningKey::generate(SignatureAlgorithm::MlDsa65).unwrap();
            (0..per)
                .map(|k| request(&host, &body(&key, manifest, s * per + k)))
                .collect()
        })
        .collect();
    eprintln!(
        "signed {} statements in {:.1} s",
        submitters * per,
        t0.elapsed().as_secs_f64()
    );
    let cpu0 = cpu_secs();
    let t0 = Instant::now();
    // One thread drives every connection (epoll): the load generator shares the two
    // cores with the server, and a thread per submitter cost a context switch per answer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let results = rt.block_on(async {
        let tasks: Vec<_> = requests
            .into_iter()
            .map(|reqs| tokio::spawn(submitter(host.clone(), reqs)))
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let mut lat: Vec<Duration> = Vec::new();
    let mut sizes = std::collections::BTreeSet::new();
    for (l, s) in results {
        lat.extend(l);
        sizes.extend(s);
    }
    let dt = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    // Each batch publishes one checkpoint (one Ed25519 + one ML-DSA-44 signature) of a
    // size no other batch has: distinct sizes in the answers = batches.
    println!(
        "batches: {} checkpoints signed for {} entries (mean batch {:.1} entries)",
        sizes.len(),
        lat.len(),
        lat.len() as f64 / sizes.len() as f64
    );
    println!(
        "append: {} signed submissions from {submitters} submitters in {dt:.2} s: {:.0} appends/s",
        lat.len(),
        lat.len() as f64 / dt
    );
    println!(
        "load generator CPU: {cpu:.2} s = {:.0} us per append",
        cpu / lat.len() as f64 * 1e6
    );
    report("append latency", lat);
}

/// This process's user + system CPU seconds so far (Linux `/proc/self/stat`).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of proc_pid_stat(5); field 3 is index 0 here.
    // Clock ticks are USER_HZ, 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

fn proofs(base: &str, n: u64) {
    let a = agent();
    let mut r = a.get(format!("{base}/log/checkpoint")).call().unwrap();
    let cp = r.body_mut().read_to_string().unwrap();
    let size: u64 = cp.lines().nth(1).unwrap().parse().unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut incl = Vec::new();
    let mut cons = Vec::new();
    for _ in 0..n {
        let i = next() % size;
        let t = Instant::now();
        let mut r = a
            .get(format!(
                "{base}/log/v1/proof/inclusion?index={i}&size={size}"
            ))
            .call()
            .unwrap();
        let _ = r.body_mut().read_to_vec().unwrap();
        assert_eq!(r.status(), 200);
        incl.push(t.elapsed());
        let m = next() % size;
        let t = Instant::now();
        let mut r = a
            .get(format!(
                "{base}/log/v1/proof/consistency?from={m}&to={size}"
            ))
            .call()
            .unwrap();
        let _ = r.body_mut().read_to_vec().unwrap();
        assert_eq!(r.status(), 200);
        cons.push(t.elapsed());
    }
    println!("proofs at size {size}:");
    report("  inclusion", incl);
    report("  consistency", cons);
}

fn verify_cost(n: u32) {
    let key = SigningKey::generate(SignatureAlgorithm::MlDsa65).unwrap();
    let b = body(&key, Digest::sha256(b"m"), 1);
    let t0 = Instant::now();
    for _ in 0..n {
        Submission::verify(&b).unwrap();
    }
    let whole = t0.elapsed().as_secs_f64() / f64::from(n);
    let env = Envelope::sign(PAYLOAD_TYPE, b"x".repeat(600), &[&key]).unwrap();
    let msg = pae(PAYLOAD_TYPE, &env.payload);
    let vk = key.verifying_key();
    let t0 = Instant::now();
    for _ in 0..n {
        vk.verify(&msg, &env.signatures[0].sig).unwrap();
    }
    let bare = t0.elapsed().as_secs_f64() / f64::from(n);
    println!(
        "verify-cost: whole submission check {:.1} us ({:.0}/s per core); bare ML-DSA-65 verify {:.1} us ({:.0}/s per core)",
        whole * 1e6,
        1.0 / whole,
        bare * 1e6,
        1.0 / bare
    );
}

/// Where the bytes of `<data-dir>/log/log.redb` go (redb's own accounting).
fn stats(dir: &str) {
    let db = redb::Database::open(std::path::Path::new(dir).join("log/log.redb")).unwrap();
    let wtx = db.begin_write().unwrap();
    println!("{:?}", wtx.stats().unwrap());
    wtx.abort().unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> u64 { args[i].parse().unwrap() };
    match args.first().map(String::as_str) {
        Some("fill") if args.len() == 3 => fill(&args[1], num(2)),
        Some("append") if args.len() == 4 => append(&args[1], num(2), num(3)),
        Some("proofs") if args.len() == 3 => proofs(&args[1], num(2)),
        Some("stats") if args.len() == 2 => stats(&args[1]),
        Some("verify-cost") if args.len() == 2 => verify_cost(num(1) as u32),
        _ => {
            eprintln!(
                "usage: log_bench fill <data-dir> <count> | append <url> <submitters> <per> | proofs <url> <n> | verify-cost <n>"
            );
            std::process::exit(2);
        }
    }
}
