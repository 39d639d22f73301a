//! Online garbage collection (`spec/api.md`, "Garbage collection"), run every second with no
//! grace period: an unreferenced blob goes, the blobs of a tagged manifest stay, and a pull
//! that started reading a blob before the collection removed it still gets every byte.

use std::io::Read;
use std::time::{Duration, Instant};

use pqreg_tests::Registry;
use pqreg_tests::http::read_head;
use pqreg_tests::oci::*;
use sha2::{Digest, Sha256};

#[test]
fn gc_removes_unreferenced_keeps_referenced_and_never_cuts_a_pull() {
    let reg = Registry::start_with_env(&[
        ("PQREG_REGISTRY__GC__INTERVAL_SECS", "1"),
        ("PQREG_REGISTRY__GC__GRACE_PERIOD_SECS", "0"),
    ]);
    let c = reg.client();
    let (_, md) = push_image(&c, "gc/repo", "kept", 80, 2);
    let manifest = get_manifest(&c, "gc/repo", "kept").json();
    // 32 MiB: far more than socket buffers hold, so the server reads from disk after the GC.
    let big = random_bytes(81, 32 << 20);
    let big_d = push_blob(&c, "gc/repo", &big);

    let s = c
        .start("GET", &blob_path("gc/repo", &big_d), &[], None)
        .unwrap();
    let (status, _, mut body) = read_head(s).unwrap();
    assert_eq!(status, 200);
    let mut head = vec![0u8; 1 << 20];
    body.read_exact(&mut head).unwrap();

    // Wait (bounded) for a collection to remove the unreferenced blob.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut backoff = Duration::from_millis(50);
    while c.head(&blob_path("gc/repo", &big_d)).status != 404 {
        assert!(
            Instant::now() < deadline,
            "online GC never removed the unreferenced blob"
        );
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(500));
    }

    let mut rest = Vec::new();
    body.read_to_end(&mut rest).unwrap();
    let mut h = Sha256::new();
    h.update(&head);
    h.update(&rest);
    assert_eq!(
        head.len() + rest.len(),
        big.len(),
        "the pull was cut short by GC"
    );
    assert_eq!(format!("sha256:{}", hex::encode(h.finalize())), big_d);

    // Referenced content stays.
    assert_eq!(get_manifest(&c, "gc/repo", &md).status, 200);
    let mut refs = vec![manifest["config"]["digest"].as_str().unwrap().to_owned()];
    for l in manifest["layers"].as_array().unwrap() {
        refs.push(l["digest"].as_str().unwrap().to_owned());
    }
    for d in refs {
        assert_eq!(
            c.head(&blob_path("gc/repo", &d)).status,
            200,
            "GC removed referenced blob {d}"
        );
    }
    // And the collected blob can be pushed again.
    push_blob(&c, "gc/repo", &big);
    assert_eq!(c.head(&blob_path("gc/repo", &big_d)).status, 200);
}
