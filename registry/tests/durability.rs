//! Upload sessions survive a restart (even with bytes past the recorded offset, as a crash
//! leaves them), and garbage collection honours its grace period.

use std::time::Duration;

use crate::common::*;
use pqreg_spec::Digest;

#[test]
fn upload_session_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 241) as u8).collect();
    let d = Digest::sha256(&data);
    let (loc, id) = {
        let reg = start(dir.path(), |_| {});
        let (a, base) = (agent(), reg.url());
        let r = a
            .post(format!("{base}/v2/resume/me/blobs/uploads/"))
            .send_empty()
            .unwrap();
        let loc = hdr(&r, "Location").unwrap();
        let id = hdr(&r, "Docker-Upload-UUID").unwrap();
        let r = a
            .patch(format!("{base}{loc}"))
            .header("Content-Range", "0-119999")
            .send(&data[..120_000])
            .unwrap();
        assert_eq!(r.status(), 202);
        reg.stop();
        (loc, id)
    };
    // What a kill during the next PATCH leaves: bytes written but not recorded.
    let session_file = dir.path().join("uploads").join(&id);
    assert_eq!(std::fs::metadata(&session_file).unwrap().len(), 120_000);
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&session_file)
            .unwrap();
        f.write_all(&[0xEE; 5000]).unwrap();
    }

    let reg = start(dir.path(), |_| {});
    let (a, base) = (agent(), reg.url());
    let r = a.get(format!("{base}{loc}")).call().unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(hdr(&r, "Range").unwrap(), "0-119999");
    let r = a
        .patch(format!("{base}{loc}"))
        .header("Content-Range", "120000-199999")
        .send(&data[120_000..])
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(hdr(&r, "Range").unwrap(), "0-199999");
    let r = a
        .put(format!("{base}{loc}?digest={d}"))
        .send_empty()
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut r = a
        .get(format!("{base}/v2/resume/me/blobs/{d}"))
        .call()
        .unwrap();
    assert_eq!(body(&mut r), data);
    assert!(!session_file.exists());
}

#[test]
fn orphan_upload_files_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    drop(start(dir.path(), |_| {}));
    let orphan = dir.path().join("uploads").join("0".repeat(32));
    std::fs::write(&orphan, b"half a monolithic push").unwrap();
    let _reg = start(dir.path(), |_| {});
    assert!(!orphan.exists());
}

#[test]
fn online_gc_respects_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |c| {
        c.gc.interval_secs = 1;
        c.gc.grace_period_secs = 2;
        c.gc.upload_ttl_secs = 2;
    });
    let (a, base) = (agent(), reg.url());
    let loose = push_blob(&a, &base, "g", b"unreferenced");
    push_blob(&a, &base, "g", b"{}");
    let layer = push_blob(&a, &base, "g", b"layer");
    let m = image_manifest(b"{}", &[b"layer"], None);
    assert_eq!(put_manifest(&a, &base, "g", "v1", &m).status(), 201);
    let r = a
        .post(format!("{base}/v2/g/blobs/uploads/"))
        .send_empty()
        .unwrap();
    let session = hdr(&r, "Location").unwrap();
    // Inside the grace period nothing goes.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        a.head(format!("{base}/v2/g/blobs/{loose}"))
            .call()
            .unwrap()
            .status(),
        200
    );
    // After it, the unreferenced blob and the idle session go; referenced blobs stay.
    std::thread::sleep(Duration::from_millis(4000));
    assert_eq!(
        a.head(format!("{base}/v2/g/blobs/{loose}"))
            .call()
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        a.head(format!("{base}/v2/g/blobs/{layer}"))
            .call()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        a.get(format!("{base}/v2/g/manifests/v1"))
            .call()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        a.get(format!("{base}{session}")).call().unwrap().status(),
        404
    );
    let files = files_under(dir.path());
    let hex = loose.hex();
    assert!(!files.iter().any(|f| f.ends_with(&hex)), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with(&layer.hex())));
    // A blob deleted from its only repository goes too, and can be pushed again.
    let r = a
        .delete(format!("{base}/v2/g/manifests/v1"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 202);
    std::thread::sleep(Duration::from_millis(4000));
    assert_eq!(
        a.head(format!("{base}/v2/g/blobs/{layer}"))
            .call()
            .unwrap()
            .status(),
        200,
        "manifest still there by digest"
    );
    push_blob(&a, &base, "g", b"unreferenced");
    assert_eq!(
        a.head(format!("{base}/v2/g/blobs/{loose}"))
            .call()
            .unwrap()
            .status(),
        200
    );
}

/// A client that disconnects in the middle of a chunk: the bytes that arrived are kept
/// (or dropped) consistently, and the session resumes from the Range it reports.
#[test]
fn disconnect_mid_chunk_then_resume() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let reg = start(dir.path(), |_| {});
    let (a, base) = (agent(), reg.url());
    let data: Vec<u8> = (0..400_000u32).map(|i| (i % 239) as u8).collect();
    let d = Digest::sha256(&data);
    let r = a
        .post(format!("{base}/v2/cut/blobs/uploads/"))
        .send_empty()
        .unwrap();
    let loc = hdr(&r, "Location").unwrap();
    {
        let mut s = std::net::TcpStream::connect(reg.addr).unwrap();
        write!(
            s,
            "PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            data.len()
        )
        .unwrap();
        s.write_all(&data[..150_000]).unwrap();
        s.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
    } // closed mid-body
    std::thread::sleep(Duration::from_millis(500));
    let r = a.get(format!("{base}{loc}")).call().unwrap();
    assert_eq!(r.status(), 204);
    let range = hdr(&r, "Range").unwrap();
    let have: usize = range.trim_start_matches("0-").parse::<usize>().unwrap() + 1;
    let have = if range == "0-0" { 0 } else { have };
    assert!(have <= 150_000, "{range}");
    let r = a
        .patch(format!("{base}{loc}"))
        .header("Content-Range", &format!("{have}-{}", data.len() - 1))
        .send(&data[have..])
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = a
        .put(format!("{base}{loc}?digest={d}"))
        .send_empty()
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut r = a.get(format!("{base}/v2/cut/blobs/{d}")).call().unwrap();
    assert_eq!(body(&mut r), data);
}
