//! Helpers of the log end-to-end tests (`cli_log.rs`): a private `pqreg` home with keys
//! and a trust policy naming the registry's log, model variants, a hostile mirror of the
//! log, and a witness cosigning.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use std::sync::{Arc, Mutex};

pub use crate::cli_common::{Home, tiny};
use crate::registry_common::Registry;

/// The log tests' own steps on the shared test home.
impl Home {
    /// Runs a command that must fail with exit 13; returns stderr.
    pub fn fails_13(&self, args: &[&str]) -> String {
        let o = self.run(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(13), "{args:?}: {err}");
        err
    }

    /// The default trust policy: the signer for `*/models/*`, require_log = true (the
    /// default), and the registry's log with the keys it publishes.
    pub fn write_policy(&self, reg: &Registry, mirror: Option<&str>) {
        let keys = get(&format!("http://{}/log/v1/keys", reg.addr));
        let keys = String::from_utf8(keys).unwrap();
        let pem = std::fs::read_to_string(self.path().join("signer.pub")).unwrap();
        let keys: Vec<String> = keys.lines().map(|k| format!("  \"{k}\",")).collect();
        let url = mirror
            .map(|u| format!("url = \"{u}\"\n"))
            .unwrap_or_default();
        let policy = format!(
            "version = 1\n\n[[keys]]\nname = \"release\"\nalg = \"ml-dsa-65\"\npublic_key = \"\"\"\n{pem}\"\"\"\n\n\
             [[rules]]\nrepositories = [\"*/models/*\"]\nsigners = [\"release\"]\n\n\
             [[logs]]\norigin = \"{}\"\nregistries = [\"{}\"]\nkeys = [\n{}\n]\n{url}",
            origin(reg),
            reg.addr,
            keys.join("\n")
        );
        let dir = self.path().join("config").join("pqreg");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("policy.toml"), policy).unwrap();
    }

    /// `push` with the home's keys; returns the manifest digest.
    pub fn push_digest(&self, model: &Path, r: &str) -> String {
        self.push_digest_with(model, r, &[])
    }

    pub fn push_digest_with(&self, model: &Path, r: &str, extra: &[&str]) -> String {
        let mut a = vec![
            "push".to_owned(),
            model.to_str().unwrap().to_owned(),
            r.to_owned(),
            "--recipient".into(),
            self.p("rcpt.pub"),
            "--sign-key".into(),
            self.p("signer.key"),
        ];
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let v = self.json(&a);
        v["digest"].as_str().unwrap().to_owned()
    }

    pub fn pull_args(&self, r: &str, out: &str) -> Vec<String> {
        vec![
            "pull".into(),
            r.into(),
            self.p(out),
            "--identity".into(),
            self.p("rcpt.key"),
        ]
    }

    /// `pull` with the home's identity; returns its JSON report.
    pub fn pull_json(&self, r: &str, out: &str) -> serde_json::Value {
        let mut a = vec!["-o".to_owned(), "json".to_owned()];
        a.extend(self.pull_args(r, out));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        serde_json::from_str(&self.run_ok(&a)).unwrap()
    }

    pub fn pull_fails_13(&self, r: &str, out: &str) -> String {
        let a = self.pull_args(r, out);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let err = self.fails_13(&a);
        assert!(!self.path().join(out).exists());
        err
    }

    pub fn state_dir(&self, reg: &Registry) -> PathBuf {
        use sha2::Digest as _;
        let id = sha2::Sha256::digest(origin(reg).as_bytes());
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        self.path()
            .join("state")
            .join("pqreg")
            .join("logs")
            .join(hex)
    }
}

pub fn get(url: &str) -> Vec<u8> {
    let mut r = ureq::get(url).call().unwrap();
    r.body_mut().read_to_vec().unwrap()
}

/// The log's origin: the first line of its checkpoint.
pub fn origin(reg: &Registry) -> String {
    let cp = get(&format!("http://{}/log/checkpoint", reg.addr));
    String::from_utf8(cp)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned()
}

/// A copy of the tiny model with one file changed (another model, other entries).
pub fn variant(home: &Home, name: &str, extra: &str) -> PathBuf {
    let dir = home.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(tiny()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), extra).unwrap();
    dir
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

pub fn evidence_count(h: &Home, reg: &Registry) -> usize {
    std::fs::read_dir(h.state_dir(reg).join("evidence"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// What the hostile mirror does to the log's responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    Nothing,
    /// Flip a bit in every hash of every hash tile.
    TileByte,
    /// Flip a base64 character of the log's first signature line.
    CheckpointSig,
    /// Change every entry's time in the entry bundles (same lengths).
    EntrySwap,
}

/// A plain HTTP proxy in front of the registry's log that tampers as told: what a
/// compromised mirror or CDN could serve (spec/transparency-log.md §5: tiles may be
/// served from anywhere).
pub struct Mirror {
    addr: String,
    mode: Arc<Mutex<Tamper>>,
}

impl Mirror {
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mode = Arc::new(Mutex::new(Tamper::Nothing));
        let m = mode.clone();
        let upstream = upstream.to_owned();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(stream) = conn else { continue };
                let t = *m.lock().unwrap();
                let _ = serve(stream, &upstream, t);
            }
        });
        Mirror { addr, mode }
    }

    pub fn set(&self, t: Tamper) {
        *self.mode.lock().unwrap() = t;
    }

    pub fn url(&self) -> String {
        format!("http://{}/log", self.addr)
    }
}

fn serve(mut stream: std::net::TcpStream, upstream: &str, t: Tamper) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
    }
    let (status, mut body) = match ureq::get(format!("http://{upstream}{path}")).call() {
        Ok(mut r) => (200, r.body_mut().read_to_vec().unwrap_or_default()),
        Err(ureq::Error::StatusCode(c)) => (c, Vec::new()),
        Err(_) => (502, Vec::new()),
    };
    if status == 200 {
        tamper(&path, &mut body, t);
    }
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)?;
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    Ok(())
}

fn tamper(path: &str, body: &mut [u8], t: Tamper) {
    match t {
        Tamper::TileByte if path.starts_with("/log/tile/") && !path.contains("/entries/") => {
            for h in body.chunks_mut(32) {
                h[0] ^= 1;
            }
        }
        Tamper::CheckpointSig if path == "/log/checkpoint" => {
            let text = String::from_utf8(body.to_vec()).unwrap();
            let start = text.find("\n— ").unwrap() + 1;
            let end = start + text[start..].find('\n').unwrap();
            let pos = end - 6;
            body[pos] = if body[pos] == b'A' { b'B' } else { b'A' };
        }
        Tamper::EntrySwap if path.starts_with("/log/tile/entries/") => {
            let pat = b"\ntime 1";
            let mut i = 0;
            while i + pat.len() <= body.len() {
                if &body[i..i + pat.len()] == pat {
                    body[i + 6] = b'2';
                }
                i += 1;
            }
        }
        _ => {}
    }
}

/// A witness (Ed25519 cosignature/v1) cosigns the log's newest checkpoint.
pub fn cosign(reg: &Registry, w: &pqreg_spec::note::NoteSigner) {
    let mut note =
        pqreg_spec::note::Note::parse(&get(&format!("http://{}/log/checkpoint", reg.addr)))
            .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    note.sign(w, now).unwrap();
    let r = ureq::post(format!("http://{}/log/v1/cosignature", reg.addr))
        .header("Content-Type", "text/plain; charset=utf-8")
        .send(&note.to_bytes()[..])
        .unwrap();
    assert_eq!(r.status(), 204);
}
