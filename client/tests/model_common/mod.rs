//! Helpers of the end-to-end tests of `pqreg inspect`, `recipients` and `copy`
//! (`cli_recipients.rs`, `cli_copy.rs`): running the binary with `-o json`, trust policies
//! that require the test registries' logs, the JSON shapes of client/OUTPUT.md, blob
//! upload counts, and a home with keys. Not every helper is in use
//! (hence `dead_code`).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::cli_common::{pqreg, tiny};
use crate::registry_common::Registry;

pub fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout {}\nstderr {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `pqreg -o json ARGS`, requires success and returns the one JSON document.
pub fn json(home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["-o", "json"];
    all.extend_from_slice(args);
    let o = pqreg(home, &all);
    assert!(o.status.success(), "{args:?}: {}", show(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", show(&o)))
}

/// Runs `pqreg ARGS` and requires exit `code`; returns stderr.
pub fn fails(home: &Path, args: &[&str], code: i32) -> String {
    exits(&pqreg(home, args), code)
}

/// Requires exit `code` of `o`; returns stderr, or the JSON error's message with `-o json`.
pub fn exits(o: &Output, code: i32) -> String {
    assert_eq!(o.status.code(), Some(code), "{}", show(o));
    let err: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    match err["error"]["message"].as_str() {
        Some(m) => m.to_owned(),
        None => String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A trust policy letting `signer_pub` sign every repository of `regs`, requiring the log
/// of each (its `[[logs]]` from the registry's `/log/v1/keys` and checkpoint origin).
pub fn policy(path: &Path, signer_pub: &Path, regs: &[&Registry]) {
    let pem = std::fs::read_to_string(signer_pub).unwrap();
    let patterns: Vec<String> = regs.iter().map(|r| format!("\"{}/**\"", r.addr)).collect();
    let mut text = format!(
        "version = 1\n\n[[keys]]\nname = \"release\"\nalg = \"ml-dsa-65\"\npublic_key = \"\"\"\n{pem}\"\"\"\n\n[[rules]]\nrepositories = [{}]\nsigners = [\"release\"]\n",
        patterns.join(", ")
    );
    for r in regs {
        let get = |path: &str| {
            ureq::get(format!("http://{}{path}", r.addr))
                .call()
                .unwrap()
                .body_mut()
                .read_to_string()
                .unwrap()
        };
        let keys: Vec<String> = get("/log/v1/keys")
            .lines()
            .map(|k| format!("\"{k}\""))
            .collect();
        let origin = get("/log/checkpoint").lines().next().unwrap().to_owned();
        text.push_str(&format!(
            "\n[[logs]]\norigin = \"{origin}\"\nregistries = [\"{}\"]\nkeys = [{}]\n",
            r.addr,
            keys.join(", ")
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// Appends a `[[mirrors]]` rule to the policy at `path` (spec/signing.md §6): models
/// pulled from under `pull` may carry statements signed for the same path under `signed`.
pub fn add_mirror(path: &Path, pull: &str, signed: &str) {
    let mut text = std::fs::read_to_string(path).unwrap();
    text.push_str(&format!(
        "\n[[mirrors]]\npull = \"{pull}\"\nsigned = \"{signed}\"\n"
    ));
    std::fs::write(path, text).unwrap();
}

/// The `json-<name>` examples of client/OUTPUT.md.
pub fn documented(name: &str) -> Value {
    let doc = include_str!("../../OUTPUT.md");
    let marker = format!("<!-- example: json-{name} -->\n```json\n");
    let start = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("no example json-{name}"))
        + marker.len();
    let end = start + doc[start..].find("```").unwrap();
    serde_json::from_str(&doc[start..end]).unwrap_or_else(|e| panic!("json-{name}: {e}"))
}

/// Requires `got` to have exactly the fields of `doc`, recursively (objects by key;
/// arrays by their first elements when both have one; `null` matches anything; maps
/// whose keys are data, not fields, are not compared).
pub fn same_fields(doc: &Value, got: &Value, path: &str) {
    match (doc, got) {
        (Value::Object(d), Value::Object(g)) => {
            let dk: BTreeSet<&String> = d.keys().collect();
            let gk: BTreeSet<&String> = g.keys().collect();
            assert_eq!(dk, gk, "fields of {path}: documented vs actual\n{got:#}");
            for (k, v) in d {
                if k == "annotations" || k == "credentials" {
                    continue;
                }
                same_fields(v, &g[k], &format!("{path}.{k}"));
            }
        }
        (Value::Array(d), Value::Array(g)) => {
            if let (Some(a), Some(b)) = (d.first(), g.first()) {
                same_fields(a, b, &format!("{path}[0]"));
            }
        }
        (_, Value::Null) | (Value::Null, _) => {}
        (d, g) => assert_eq!(
            std::mem::discriminant(d),
            std::mem::discriminant(g),
            "type of {path}: documented {d}, actual {g}"
        ),
    }
}

pub fn check_doc(name: &str, got: &Value) {
    same_fields(&documented(name), got, name);
}

/// Blob uploads the registry completed (`PUT …/blobs/uploads/<id>?digest=` → 201).
pub fn uploads(reg: &Registry) -> u64 {
    reg.requests("PUT", "uploads", Some(201))
}

pub struct Keys {
    pub home: tempfile::TempDir,
}

impl Keys {
    pub fn new() -> Self {
        let k = Keys {
            home: tempfile::tempdir().unwrap(),
        };
        for (kind, name) in [
            ("--sign", "signer"),
            ("--sign", "other"),
            ("--recipient", "a"),
            ("--recipient", "b"),
            ("--recipient", "c"),
        ] {
            let v = json(k.h(), &["keygen", kind, "--out", &k.p(name)]);
            check_doc("keygen", &v);
        }
        k
    }

    pub fn h(&self) -> &Path {
        self.home.path()
    }

    pub fn p(&self, name: &str) -> String {
        self.home.path().join(name).to_str().unwrap().to_owned()
    }

    /// The key ID of `name.pub` (what inspect lists).
    pub fn key_id(&self, name: &str) -> String {
        let pem = std::fs::read_to_string(self.h().join(format!("{name}.pub"))).unwrap();
        pqreg_spec::keys::decode_public_pem(&pem)
            .unwrap()
            .key_id()
            .to_string()
    }

    pub fn push(&self, reg: &Registry, reference: &str, recipient: &str, signer: &str) -> Value {
        let v = json(
            self.h(),
            &[
                "push",
                tiny().to_str().unwrap(),
                &format!("{}/{reference}", reg.addr),
                "--recipient",
                &self.p(&format!("{recipient}.pub")),
                "--sign-key",
                &self.p(&format!("{signer}.key")),
            ],
        );
        check_doc("push", &v);
        v
    }

    pub fn pull(&self, reference: &str, identity: &str, out: &str) -> Output {
        pqreg(
            self.h(),
            &[
                "-o",
                "json",
                "pull",
                reference,
                &self.p(out),
                "--identity",
                &self.p(&format!("{identity}.key")),
                "--policy",
                &self.p("trust.toml"),
            ],
        )
    }

    pub fn recipients(&self, action: &str, reference: &str, key: &str, identity: &str) -> Output {
        self.recipients_by(
            action,
            reference,
            &self.p(&format!("{key}.pub")),
            identity,
            "signer",
        )
    }

    /// `pqreg -o json recipients ACTION REFERENCE PUB --identity IDENTITY.key --sign-key
    /// SIGNER.key` (`public` is a path or a key ID).
    pub fn recipients_by(
        &self,
        action: &str,
        reference: &str,
        public: &str,
        identity: &str,
        signer: &str,
    ) -> Output {
        pqreg(
            self.h(),
            &[
                "-o",
                "json",
                "recipients",
                action,
                reference,
                public,
                "--identity",
                &self.p(&format!("{identity}.key")),
                "--sign-key",
                &self.p(&format!("{signer}.key")),
            ],
        )
    }
}

pub fn recipient_ids(inspect: &Value) -> Vec<String> {
    inspect["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key_id"].as_str().unwrap().to_owned())
        .collect()
}
