//! The real `pqreg-registry` binary on 127.0.0.1 for the client's end-to-end tests:
//! built once per test run, started on a free port with its own data directory, ready
//! when `/v2/` answers, killed on drop; its `/metrics` counters. Not every helper is in use
//! (hence `dead_code`).
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::tools;

/// A registry process with its own data directory, killed on drop.
pub struct Registry {
    child: Child,
    /// `host:port` the registry listens on.
    pub addr: String,
    dir: PathBuf,
    /// The temporary directory `dir` is (or is in), removed on drop; `None` for
    /// [`start_in`].
    _tmp: Option<tempfile::TempDir>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// The data directory: for pqreg-registry `--data-dir` (blobs under
    /// `blobs/sha256/<2 hex>/<hex>`), for docker-registry the storage root (blobs,
    /// manifests included, under `docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data`).
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// The registry's `/metrics` text.
    pub fn metrics(&self) -> String {
        ureq::get(format!("http://{}/metrics", self.addr))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    }

    /// Sum of `pqreg_http_requests_total` over the series of `method` whose route
    /// contains `route_part`, and whose status is `status` if given.
    pub fn requests(&self, method: &str, route_part: &str, status: Option<u16>) -> u64 {
        let m = self.metrics();
        m.lines()
            .filter(|l| l.starts_with("pqreg_http_requests_total{"))
            .filter(|l| l.contains(&format!("method=\"{method}\"")))
            .filter(|l| {
                l.split("route=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .is_some_and(|r| r.contains(route_part))
            })
            .filter(|l| status.is_none_or(|s| l.contains(&format!("status=\"{s}\""))))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    }
}

/// Builds the registry binary once per test run (a no-op when it is current).
pub fn registry_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args([
                "build",
                "-q",
                "-p",
                "pqreg-registry",
                "--bin",
                "pqreg-registry",
            ])
            .current_dir(&root)
            .status()
            .expect("run cargo build");
        assert!(st.success(), "cargo build -p pqreg-registry failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let bin = target.join("debug").join("pqreg-registry");
        assert!(bin.exists(), "{} missing", bin.display());
        bin
    })
    .clone()
}

/// Starts a registry on a free 127.0.0.1 port with a fresh data directory.
pub fn start() -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = start_in(dir.path());
    reg._tmp = Some(dir);
    reg
}

/// Starts a registry like [`start`] whose log has the origin `origin` (the default,
/// `127.0.0.1:0/log`, is the same for every test registry).
pub fn start_with_origin(origin: &str) -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = start_in_env(dir.path(), &[("PQREG_REGISTRY__LOG__ORIGIN", origin)]);
    reg._tmp = Some(dir);
    reg
}

/// Starts a registry on a free 127.0.0.1 port with the data directory `dir` (kept when
/// the registry is dropped: restart it, or copy it to restore later).
pub fn start_in(dir: &Path) -> Registry {
    start_in_env(dir, &[])
}

/// [`start_in`] with extra `PQREG_REGISTRY__…` configuration in the environment.
pub fn start_in_env(dir: &Path, envs: &[(&str, &str)]) -> Registry {
    let mut child = Command::new(registry_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("PQREG_REGISTRY__LOG_FORMAT", "json")
        .env("PQREG_REGISTRY__GC__INTERVAL_SECS", "0")
        .env("PQREG_REGISTRY__WORKERS", "2")
        .env("RUST_LOG", "info")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The bound address is in the "listening" log line; keep draining stderr after it.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(t) = &tx
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["fields"]["message"] == "pqreg-registry listening"
            {
                let _ = t.send(v["fields"]["addr"].as_str().unwrap_or_default().to_owned());
                tx = None;
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("registry printed its address");
    let reg = Registry {
        child,
        addr,
        dir: dir.to_owned(),
        _tmp: None,
    };
    wait_ready(&reg);
    reg
}

/// Starts Debian's `docker-registry` (distribution 2.8: plain OCI storage, no referrers
/// API, no log) on a free 127.0.0.1 port with a temp config and storage root; `None`
/// when it is not installed (the test is skipped; under CI=true it fails).
pub fn start_docker_registry() -> Option<Registry> {
    tools::tool("docker-registry", &["--version"])?;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reg = Registry {
        child,
        addr: format!("127.0.0.1:{port}"),
        dir: dir.path().to_owned(),
        _tmp: Some(dir),
    };
    wait_ready(&reg);
    Some(reg)
}

fn wait_ready(reg: &Registry) {
    // Bounded poll of /v2/.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // 401: access control is on (the registry answers; that is all we wait for).
        if let Ok(r) = ureq::get(format!("http://{}/v2/", reg.addr))
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            && (r.status() == 200 || r.status() == 401)
        {
            break;
        }
        assert!(Instant::now() < deadline, "registry did not answer /v2/");
        std::thread::sleep(Duration::from_millis(50));
    }
}
