//! Shared helpers: start a registry on 127.0.0.1:0 in a temporary data directory and talk
//! to it over real HTTP with a blocking client.
#![allow(dead_code, clippy::unwrap_used)] // test helpers: a failure should panic

pub mod signed;

use std::path::Path;

use pqreg_registry::Running;
use pqreg_registry::config::Config;
use pqreg_spec::Digest;
use serde_json::{Value, json};

pub use ureq::http::Response;
pub type Resp = Response<ureq::Body>;

/// A registry with its own data directory.
pub fn start(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Running {
    let mut cfg = Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        workers: 2,
        ..Config::default()
    };
    cfg.gc.interval_secs = 0;
    tweak(&mut cfg);
    Running::start(cfg).expect("registry starts")
}

/// A client that returns 4xx/5xx as responses, not errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

pub fn hdr(r: &Resp, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub fn body(r: &mut Resp) -> Vec<u8> {
    r.body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap()
}

pub fn json_body(r: &mut Resp) -> Value {
    serde_json::from_slice(&body(r)).unwrap()
}

/// The first error code of an error body.
pub fn err_code(r: &mut Resp) -> String {
    let v = json_body(r);
    v["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Pushes a blob monolithically; asserts 201.
pub fn push_blob(a: &ureq::Agent, base: &str, repo: &str, data: &[u8]) -> Digest {
    let d = Digest::sha256(data);
    let r = a
        .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={d}"))
        .header("Content-Type", "application/octet-stream")
        .send(data)
        .unwrap();
    assert_eq!(r.status(), 201, "push blob");
    d
}

pub fn descriptor(media_type: &str, data: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::sha256(data).to_string(), "size": data.len()})
}

/// An image manifest over a config and layers (already pushed), optionally with a subject.
pub fn image_manifest(config: &[u8], layers: &[&[u8]], subject: Option<&[u8]>) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": layers.iter().map(|l| descriptor("application/vnd.oci.image.layer.v1.tar", l)).collect::<Vec<_>>(),
    });
    if let Some(s) = subject {
        m["subject"] = descriptor("application/vnd.oci.image.manifest.v1+json", s);
    }
    serde_json::to_vec(&m).unwrap()
}

pub fn put_manifest(a: &ureq::Agent, base: &str, repo: &str, reference: &str, m: &[u8]) -> Resp {
    a.put(format!("{base}/v2/{repo}/manifests/{reference}"))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .send(m)
        .unwrap()
}

/// Files under `dir` (recursively), relative paths.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}
