//! Memory per transfer is bounded whatever the blob size (issue: "a 10 GiB upload must not
//! raise RSS by more than 64 MiB"): a 512 MiB blob streamed up with a monolithic PUT, up
//! again in 8 MiB PATCH chunks, and down with GET, each while the server's peak RSS
//! (`VmHWM`) is watched. 512 MiB is far past any buffer that would hold a whole blob, and
//! keeps the test to seconds.

use std::io::{Read, Write};

use pqreg_tests::Registry;
use pqreg_tests::http::{read_head, read_response};
use pqreg_tests::oci::{Rng, blob_path, open_session, push_blob};
use pqreg_tests::with_query;
use sha2::{Digest, Sha256};

const SIZE: u64 = 512 << 20;
const PIECE: usize = 1 << 20;
const LIMIT_KIB: u64 = 64 << 10;

/// Streams `SIZE` deterministic bytes (1 MiB pieces repeating with a counter) and returns
/// their digest.
fn generate(mut sink: impl FnMut(&[u8])) -> String {
    let base = Rng::new(99).bytes(PIECE);
    let mut h = Sha256::new();
    let mut piece = base.clone();
    for i in 0..SIZE / PIECE as u64 {
        piece[..8].copy_from_slice(&i.to_le_bytes());
        h.update(&piece);
        sink(&piece);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn digest_only() -> String {
    generate(|_| {})
}

#[test]
fn large_transfers_keep_memory_bounded() {
    let reg = Registry::start();
    let c = reg.client();
    push_blob(&c, "mem/warm", b"warm up the allocator and the store");
    let base = reg.proc_status_kib("VmHWM").expect("VmHWM of the server");
    let d = digest_only();

    // Monolithic PUT, streamed.
    let loc = open_session(&c, "mem/big");
    let mut s = c
        .start(
            "PUT",
            &with_query(&loc, "digest", &d),
            &[("Content-Type", "application/octet-stream")],
            Some(SIZE),
        )
        .unwrap();
    generate(|p| s.write_all(p).unwrap());
    let r = read_response(s, false).unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let after_put = reg.proc_status_kib("VmHWM").unwrap();

    // Chunked: 8 MiB PATCHes.
    let loc = open_session(&c, "mem/chunked");
    let mut buf = Vec::with_capacity(8 << 20);
    let mut off = 0u64;
    let mut loc = loc;
    let flush = |buf: &mut Vec<u8>, off: &mut u64, loc: &mut String| {
        let range = format!("{}-{}", *off, *off + buf.len() as u64 - 1);
        let r = c.must("PATCH", loc, &[("Content-Range", &range)], buf);
        assert_eq!(r.status, 202, "{}", r.text());
        *loc = r.location().unwrap_or_else(|| loc.clone());
        *off += buf.len() as u64;
        buf.clear();
    };
    generate(|p| {
        buf.extend_from_slice(p);
        if buf.len() == 8 << 20 {
            flush(&mut buf, &mut off, &mut loc);
        }
    });
    let r = c.must("PUT", &with_query(&loc, "digest", &d), &[], b"");
    assert_eq!(r.status, 201, "{}", r.text());
    let after_patch = reg.proc_status_kib("VmHWM").unwrap();

    // GET, streamed and hashed.
    let s = c
        .start("GET", &blob_path("mem/big", &d), &[], None)
        .unwrap();
    let (status, _, mut body) = read_head(s).unwrap();
    assert_eq!(status, 200);
    let mut h = Sha256::new();
    let mut n = 0u64;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let k = body.read(&mut chunk).unwrap();
        if k == 0 {
            break;
        }
        h.update(&chunk[..k]);
        n += k as u64;
    }
    assert_eq!(n, SIZE);
    assert_eq!(format!("sha256:{}", hex::encode(h.finalize())), d);
    let after_get = reg.proc_status_kib("VmHWM").unwrap();

    eprintln!(
        "VmHWM KiB: base {base}, after PUT {after_put}, after PATCH {after_patch}, after GET {after_get}"
    );
    for (what, v) in [
        ("PUT", after_put),
        ("PATCH", after_patch),
        ("GET", after_get),
    ] {
        assert!(
            v - base <= LIMIT_KIB,
            "peak RSS grew by {} KiB during the 512 MiB {what} (limit {LIMIT_KIB} KiB)",
            v - base
        );
    }
}
