//! Runs the real `pqreg-registry` binary on a free loopback port with a temporary data
//! directory, waits until `GET /v2/` answers, and kills it with SIGKILL on drop or on demand.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::http::Client;
use crate::tools::workspace_root;

/// How long a started server may take to answer `GET /v2/` before the test fails.
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// The `pqreg-registry` executable: `$PQREG_REGISTRY_BIN` if set, otherwise built once per
/// test process with `cargo build -p pqreg-registry` (a no-op when it is up to date) and
/// located from cargo's own JSON report, so `CARGO_TARGET_DIR` and profiles are respected.
pub fn registry_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("PQREG_REGISTRY_BIN") {
            return PathBuf::from(p);
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(workspace_root())
            .args([
                "build",
                "-p",
                "pqreg-registry",
                "--bin",
                "pqreg-registry",
                "--message-format=json-render-diagnostics",
            ])
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build -p pqreg-registry");
        assert!(out.status.success(), "cargo build -p pqreg-registry failed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| {
                v["reason"] == "compiler-artifact" && v["target"]["name"] == "pqreg-registry"
            })
            .find_map(|v| v["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported no pqreg-registry executable")
    })
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// The arguments that start the server; the one place that knows the CLI of `serve`.
fn serve_args(addr: SocketAddr, data_dir: &Path) -> Vec<String> {
    vec![
        "serve".into(),
        "--listen".into(),
        addr.to_string(),
        "--data-dir".into(),
        data_dir.display().to_string(),
    ]
}

/// True when `PQREG_TEST_REFERENCE=docker-registry`: the harness then runs Debian's
/// `docker-registry` (distribution 2.8) instead of ours, to check the tests themselves
/// against the reference implementation. Tests of what only pqreg or OCI v1.1 promises fail
/// there by design.
pub fn reference_registry() -> bool {
    std::env::var("PQREG_TEST_REFERENCE").is_ok_and(|v| v == "docker-registry")
}

fn distribution_config(addr: SocketAddr, data_dir: &Path) -> String {
    format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
         delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: pqreg-test-secret\n",
        data_dir.display()
    )
}

/// Runs `pqreg-registry` with other arguments (e.g. `gc`, `check`) and returns
/// (success, stdout, stderr).
pub fn run_registry_command(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(registry_bin())
        .args(args)
        .output()
        .expect("run pqreg-registry");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running registry process.
pub struct Registry {
    child: Arc<Mutex<Option<Child>>>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    starts: u32,
    env: Vec<(String, String)>,
}

/// A handle that can SIGKILL the registry from another thread.
#[derive(Clone)]
pub struct Killer(Arc<Mutex<Option<Child>>>);

impl Killer {
    /// Sends SIGKILL (`Child::kill` on Unix) and reaps the process; a no-op when not running.
    pub fn kill9(&self) {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut c) = guard.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Registry {
    /// Starts a registry on a fresh temporary data directory.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Starts a registry with extra environment variables (e.g. the
    /// `PQREG_REGISTRY__<KEY>` configuration overrides of `spec/api.md`), kept for restarts.
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pqreg-test-")
            .tempdir()
            .expect("temp dir");
        std::fs::create_dir_all(dir.path().join("data")).expect("create data dir");
        let mut r = Self {
            child: Arc::new(Mutex::new(None)),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
            starts: 0,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        r.spawn();
        r
    }

    /// The data directory the server stores into.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, as OCI clients name the registry.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(Child::id)
    }

    /// A field of `/proc/<pid>/status` in KiB (e.g. `VmHWM`, the peak resident set).
    pub fn proc_status_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status.lines().find_map(|l| {
            let rest = l.strip_prefix(field)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
    }

    /// A client for this server.
    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }

    /// A handle to kill the server from another thread.
    pub fn killer(&self) -> Killer {
        Killer(Arc::clone(&self.child))
    }

    /// `kill -9` the server.
    pub fn kill9(&self) {
        self.killer().kill9();
    }

    /// Kills the server if it runs, then starts it again on the same data directory (on a
    /// new port: the old one may linger in TIME_WAIT).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Restarts on the same data directory with these environment variables added (or
    /// replaced), e.g. to switch on read-only mode.
    pub fn restart_with_env(&mut self, env: &[(&str, &str)]) {
        for (k, v) in env {
            self.env.retain(|(ek, _)| ek != k);
            self.env.push(((*k).to_owned(), (*v).to_owned()));
        }
        self.restart();
    }

    /// Writes `toml` as the configuration file the server is started with (`--config`) from
    /// the next (re)start on; e.g. `[auth]` sections, which need tables.
    pub fn set_config(&mut self, toml: &str) {
        std::fs::write(self.config_path(), toml).expect("write registry.toml");
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("registry.toml")
    }

    /// The server's combined stdout/stderr so far (for failure messages).
    pub fn log(&self) -> String {
        let mut all = String::new();
        for i in 1..=self.starts {
            let p = self.dir.path().join(format!("server-{i}.log"));
            if let Ok(s) = std::fs::read_to_string(p) {
                all.push_str(&format!("--- start {i} ---\n{s}"));
            }
        }
        all
    }

    fn spawn(&mut self) {
        let mut last_err = String::new();
        // A free port can be taken between our probe and the server's bind: retry a little.
        for _ in 0..3 {
            self.starts += 1;
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let log_path = self.dir.path().join(format!("server-{}.log", self.starts));
            let log = File::create(&log_path).expect("create server log");
            let err = log.try_clone().expect("dup log");
            let mut cmd = if reference_registry() {
                let cfg = self.dir.path().join("docker-registry.yml");
                std::fs::write(&cfg, distribution_config(addr, &self.data_dir()))
                    .expect("write docker-registry config");
                let mut c = Command::new("docker-registry");
                c.arg("serve").arg(cfg);
                c
            } else {
                let mut c = Command::new(registry_bin());
                if self.config_path().exists() {
                    c.arg("--config").arg(self.config_path());
                }
                c.args(serve_args(addr, &self.data_dir()));
                c
            };
            cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
            let child = cmd
                .env(
                    "RUST_LOG",
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(err)
                .spawn()
                .expect("spawn pqreg-registry");
            *self.child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
            self.addr = addr;
            match self.wait_ready() {
                Ok(()) => return,
                Err(e) => {
                    last_err = e;
                    self.kill9();
                }
            }
        }
        panic!("registry did not become ready: {last_err}\n{}", self.log());
    }

    /// Polls `GET /v2/` until it answers 200 (or 401: access control is on), the process
    /// exits, or the deadline passes.
    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_DEADLINE;
        let client = self.client();
        let mut backoff = Duration::from_millis(5);
        loop {
            {
                let mut guard = self.child.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(Ok(Some(status))) = guard.as_mut().map(Child::try_wait) {
                    guard.take();
                    return Err(format!("server exited with {status}"));
                }
            }
            if self.config_path().exists()
                && std::fs::read_to_string(self.config_path()).is_ok_and(|t| t.contains("[tls]"))
            {
                // TLS: our plain-HTTP client can't ask; the port accepting is enough (the
                // server binds only after loading its certificate).
                if std::net::TcpStream::connect(self.addr).is_ok() {
                    return Ok(());
                }
            } else if let Ok(r) = client.request("GET", "/v2/", &[], b"") {
                if r.status == 200 || r.status == 401 {
                    return Ok(());
                }
                return Err(format!("GET /v2/ answered {}", r.status));
            }
            if Instant::now() > deadline {
                return Err("deadline passed".into());
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(200));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill9();
    }
}
