//! Shared helpers of the tests that run the `pqreg` binary against registries: a private
//! XDG environment, keys, a trust policy, third-party tools. Not every helper is in use
//! (hence `dead_code`).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

pub(crate) use crate::tools;
pub use tools::{model_signing, tiny, tool};

/// Runs `pqreg` with a private XDG environment under `home`.
pub fn pqreg(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pqreg"))
        .args(args)
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("DOCKER_CONFIG", home.join("docker"))
        .env_remove("PQREG_REGISTRY")
        .output()
        .unwrap()
}

/// Asserts `o` succeeded and returns its stdout.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}\nstdout {}\nstderr {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Asserts `o` exited with `code`.
pub fn exits(o: &Output, code: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}: stdout {}\nstderr {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Writes a trust policy at `path` that lets the ML-DSA-65 key `signer_pub` sign the
/// repositories matching `repo_pattern`, without requiring the log.
pub fn policy(path: &Path, signer_pub: &Path, repo_pattern: &str) {
    let pem = std::fs::read_to_string(signer_pub).unwrap();
    std::fs::write(
        path,
        format!(
            "version = 1\nrequire_log = false\n\n[[keys]]\nname = \"release\"\nalg = \"ml-dsa-65\"\npublic_key = \"\"\"\n{pem}\"\"\"\n\n[[rules]]\nrepositories = [\"{repo_pattern}\"]\nsigners = [\"release\"]\n"
        ),
    )
    .unwrap();
}

/// The regular files of `dir` (not recursive), sorted by name, with their contents.
pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            assert!(e.file_type().unwrap().is_file());
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A private XDG environment for `pqreg` with a signer, an unrelated signer and a
/// recipient key pair: `signer.{key,pub}`, `other.{key,pub}`, `rcpt.{key,pub}`.
pub struct Home {
    pub dir: tempfile::TempDir,
    /// The signer's key ID.
    pub key_id: String,
}

impl Home {
    /// Generates the keys.
    pub fn new() -> Self {
        let mut h = Home {
            dir: tempfile::tempdir().unwrap(),
            key_id: String::new(),
        };
        h.key_id = h
            .run_ok(&["keygen", "--sign", "--out", &h.p("signer")])
            .trim()
            .to_owned();
        h.run_ok(&["keygen", "--sign", "--out", &h.p("other")]);
        h.run_ok(&["keygen", "--recipient", "--out", &h.p("rcpt")]);
        h
    }

    /// The home directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `name` under the home, as a string argument.
    pub fn p(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    /// Runs `pqreg` in this home.
    pub fn run(&self, args: &[&str]) -> Output {
        pqreg(self.dir.path(), args)
    }

    /// Runs `pqreg` in this home; it must succeed. Returns stdout.
    pub fn run_ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?}: status {:?}\nstdout {}\nstderr {}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// `pqreg -o json ARGS…`; it must succeed. Returns its JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["-o", "json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.run_ok(&a)).unwrap()
    }

    /// `pqreg -o json push DIR REF --recipient rcpt.pub --sign-key SIGNER EXTRA…`.
    pub fn push(&self, dir: &Path, reference: &str, signer: &str, extra: &[&str]) -> Output {
        let (rcpt, key) = (self.p("rcpt.pub"), self.p(signer));
        let mut args = vec!["-o", "json", "push", dir.to_str().unwrap(), reference];
        args.extend(["--recipient", &rcpt, "--sign-key", &key]);
        args.extend(extra);
        self.run(&args)
    }

    /// `pqreg -o json pull REF HOME/OUT --identity IDENTITY --policy trust.toml EXTRA…`.
    pub fn pull(&self, reference: &str, out: &str, identity: &str, extra: &[&str]) -> Output {
        let (out, id, trust) = (self.p(out), self.p(identity), self.p("trust.toml"));
        let mut args = vec!["-o", "json", "pull", reference, &out];
        args.extend(["--identity", &id, "--policy", &trust]);
        args.extend(extra);
        self.run(&args)
    }
}
