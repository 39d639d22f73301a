//! `pqreg inspect`, `recipients add|remove` and `copy` (the binary) against real
//! `pqreg-registry` processes on 127.0.0.1, and `-o json` of every command checked
//! against the shapes documented in client/OUTPUT.md.
//!
//! - inspect: recipients, layers, signatures and their log entries; verification under a
//!   trusted and an untrusted policy.
//! - recipients: a recipient change uploads the new config and bundle only (counted with
//!   the registry's `/metrics`: no chunk is re-uploaded), the new manifest has the same
//!   layers; the added key decrypts, the removed key no longer opens the new manifest
//!   (exit 14); a wrong identity exits 14 and changes nothing; a version signed by
//!   another key is refused (exit 12) unless a policy trusts it.
//!   Each new signature is logged (policies here require the log, with `[[logs]]`).
//! - copy: same registry (blobs mounted; only the re-logged bundle uploaded), another
//!   registry (uploaded), digests preserved, signatures re-logged in the destination's
//!   log for the destination repository so `pqreg verify` passes there with the log;
//!   other referrers and classical bundles copied unchanged, after the re-logged one;
//!   without the signer's public key, a missing source, a non-pqreg manifest: clear
//!   errors.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use pqreg::transfer::{RegistryClient, TransferOptions};
use pqreg_spec::Digest;
use serde_json::Value;

mod cli_common;
mod registry_common;
use cli_common::{files, pqreg, tiny};
use registry_common::{Registry, start_with_origin};

fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout {}\nstderr {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `pqreg -o json ARGS`, requires success and returns the one JSON document.
fn json(home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["-o", "json"];
    all.extend_from_slice(args);
    let o = pqreg(home, &all);
    assert!(o.status.success(), "{args:?}: {}", show(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", show(&o)))
}

/// Runs `pqreg ARGS` and requires exit `code`; returns stderr.
fn fails(home: &Path, args: &[&str], code: i32) -> String {
    exits(&pqreg(home, args), code)
}

/// Requires exit `code` of `o`; returns stderr, or the JSON error's message with `-o json`.
fn exits(o: &Output, code: i32) -> String {
    assert_eq!(o.status.code(), Some(code), "{}", show(o));
    let err: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    match err["error"]["message"].as_str() {
        Some(m) => m.to_owned(),
        None => String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A trust policy letting `signer_pub` sign every repository of `regs`, requiring the log
/// of each (its `[[logs]]` from the registry's `/log/v1/keys` and checkpoint origin).
fn policy(path: &Path, signer_pub: &Path, regs: &[&Registry]) {
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
            "\n[[logs]]\norigin = \"{origin}\"\nkeys = [{}]\n",
            keys.join(", ")
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// The `json-<name>` examples of client/OUTPUT.md.
fn documented(name: &str) -> Value {
    let doc = include_str!("../OUTPUT.md");
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
fn same_fields(doc: &Value, got: &Value, path: &str) {
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

fn check_doc(name: &str, got: &Value) {
    same_fields(&documented(name), got, name);
}

/// Blob uploads the registry completed (`PUT …/blobs/uploads/<id>?digest=` → 201).
fn uploads(reg: &Registry) -> u64 {
    reg.requests("PUT", "uploads", Some(201))
}

struct Keys {
    home: tempfile::TempDir,
}

impl Keys {
    fn new() -> Self {
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

    fn h(&self) -> &Path {
        self.home.path()
    }

    fn p(&self, name: &str) -> String {
        self.home.path().join(name).to_str().unwrap().to_owned()
    }

    /// The key ID of `name.pub` (what inspect lists).
    fn key_id(&self, name: &str) -> String {
        let pem = std::fs::read_to_string(self.h().join(format!("{name}.pub"))).unwrap();
        pqreg_spec::keys::decode_public_pem(&pem)
            .unwrap()
            .key_id()
            .to_string()
    }

    fn push(&self, reg: &Registry, reference: &str, recipient: &str, signer: &str) -> Value {
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

    fn pull(&self, reference: &str, identity: &str, out: &str) -> Output {
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

    fn recipients(&self, action: &str, reference: &str, key: &str, identity: &str) -> Output {
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
    fn recipients_by(
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

fn recipient_ids(inspect: &Value) -> Vec<String> {
    inspect["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn inspect_and_recipients() {
    let reg = start_with_origin("models.test/log");
    let k = Keys::new();
    let h = k.h();
    policy(&h.join("trust.toml"), &h.join("signer.pub"), &[&reg]);
    policy(&h.join("untrust.toml"), &h.join("other.pub"), &[&reg]);
    let r = format!("{}/models/tiny:v1", reg.addr);
    let pushed = k.push(&reg, "models/tiny:v1", "a", "signer");
    let d0 = pushed["digest"].as_str().unwrap().to_owned();
    let (id_a, id_b) = (k.key_id("a"), k.key_id("b"));
    let signer = k.key_id("signer");

    // inspect without a policy: what the bundles claim, nothing verified.
    let i0 = json(h, &["inspect", &r]);
    check_doc("inspect", &i0);
    assert_eq!(i0["digest"], d0.as_str());
    assert_eq!(i0["artifact_type"], "application/vnd.pqreg.model.v1");
    assert_eq!(i0["encrypted"], true);
    assert_eq!(recipient_ids(&i0), vec![id_a.clone()]);
    assert_eq!(i0["recipients"][0]["kem"], "x-wing");
    assert_eq!(i0["layers"]["count"], pushed["chunks"]);
    assert!(i0["layers"]["total_bytes"].as_u64().unwrap() > 0);
    let sigs = i0["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0]["algorithm"], "ml-dsa-65");
    assert_eq!(sigs[0]["key_hint"], signer.as_str());
    assert_eq!(sigs[0]["statement_manifest"], d0.as_str());
    assert_eq!(sigs[0]["verification"], Value::Null);
    assert_eq!(i0["policy"], Value::Null);
    // push logged the signature: the entry the bundle carries.
    let e = &sigs[0]["log_entries"][0];
    assert_eq!(sigs[0]["log_entries"].as_array().unwrap().len(), 1);
    assert_eq!(e["kind"], "signature");
    assert_eq!(e["repository"], "models/tiny");
    assert_eq!(e["tag"], "v1");
    assert_eq!(e["manifest"], d0.as_str());
    assert_eq!(e["origin"], "models.test/log");
    assert!(e["index"].as_u64().unwrap() < e["tree_size"].as_u64().unwrap());
    // With policies: trusted, then untrusted.
    let i1 = json(h, &["inspect", &r, "--policy", &k.p("trust.toml")]);
    check_doc("inspect", &i1);
    let v = &i1["signatures"][0]["verification"];
    assert_eq!(
        (v["verified"].clone(), v["signer"].clone()),
        (Value::Bool(true), Value::String(signer.clone()))
    );
    assert_eq!(v["log"], "verified");
    let i2 = json(h, &["inspect", &r, "--policy", &k.p("untrust.toml")]);
    let v = &i2["signatures"][0]["verification"];
    assert_eq!(v["verified"], false);
    assert_eq!(v["error_code"], "UNTRUSTED_SIGNER");
    // Text mode.
    let o = pqreg(h, &["inspect", &r]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains(&format!("recipients     1\n  {id_a}  x-wing\n")),
        "{text}"
    );
    assert!(text.contains("not verified (no trust policy)"), "{text}");

    // recipients add b: only the new config and the bundle are uploaded.
    let before = uploads(&reg);
    let o = k.recipients("add", &r, "b", "a");
    assert!(o.status.success(), "{}", show(&o));
    let added: Value = serde_json::from_slice(&o.stdout).unwrap();
    check_doc("recipients", &added);
    assert_eq!(uploads(&reg) - before, 2, "{added}");
    assert_eq!(added["uploaded_blobs"], 2);
    assert_eq!(added["previous_digest"], d0.as_str());
    assert_eq!(added["tag"], "v1");
    let d1 = added["digest"].as_str().unwrap().to_owned();
    assert_ne!(d1, d0);
    let i3 = json(h, &["inspect", &r]);
    assert_eq!(i3["digest"], d1.as_str());
    let mut both = vec![id_a.clone(), id_b.clone()];
    both.sort();
    assert_eq!(recipient_ids(&i3), both);
    assert_eq!(added["recipients"], serde_json::json!(both));
    // Same index and chunk layers; a new config.
    assert_eq!(i3["index"], i0["index"]);
    assert_eq!(i3["layers"], i0["layers"]);
    assert_ne!(i3["config"]["digest"], i0["config"]["digest"]);
    assert_eq!(
        added["reused_layers"],
        i0["layers"]["count"].as_u64().unwrap() + 1
    );
    // Both keys decrypt the new version; the new signature verifies.
    for (id, out) in [("a", "out-a"), ("b", "out-b")] {
        let o = k.pull(&r, id, out);
        assert!(o.status.success(), "{}", show(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        check_doc("pull", &v);
        assert_eq!(v["digest"], d1.as_str());
        assert_eq!(files(&h.join(out)), files(&tiny()));
    }

    // Negative cases change nothing.
    let e = exits(
        &k.recipients_by("add", &r, &k.p("c.pub"), "c", "signer"),
        14,
    );
    assert!(e.contains("envelope has no entry"), "{e}");
    let o = k.recipients("add", &r, "a", "a");
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err: Value = serde_json::from_slice(&o.stdout).unwrap();
    check_doc("error", &err);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already a recipient")
    );
    let e = exits(
        &k.recipients_by("remove", &r, &k.p("c.pub"), "a", "signer"),
        1,
    );
    assert!(e.contains("is not a recipient"), "{e}");
    // A version signed by `signer` is not re-signed by `other` without a policy saying so.
    let e = exits(&k.recipients_by("add", &r, &k.p("c.pub"), "a", "other"), 12);
    assert!(
        e.contains("signed only by keys that are not accepted"),
        "{e}"
    );
    assert_eq!(json(h, &["inspect", &r])["digest"], d1.as_str());

    // remove a (by key ID, with b's identity): a can no longer open the new manifest.
    let o = k.recipients_by("remove", &r, &id_a, "b", "signer");
    assert!(o.status.success(), "{}", show(&o));
    let removed: Value = serde_json::from_slice(&o.stdout).unwrap();
    check_doc("recipients", &removed);
    assert_eq!(removed["recipients"], serde_json::json!([id_b]));
    assert_eq!(removed["key_id"], id_a.as_str());
    let o = k.pull(&r, "a", "out-a2");
    assert_eq!(o.status.code(), Some(14), "{}", show(&o));
    assert!(!h.join("out-a2").exists());
    let err: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(err["error"]["name"], "DECRYPTION");
    let o = k.pull(&r, "b", "out-b2");
    assert!(o.status.success(), "{}", show(&o));
    // The removed key still opens the version it was a recipient of (removal is not
    // revocation, spec/encryption.md §4.4).
    let old = format!("{}/models/tiny@{d1}", reg.addr);
    let o = k.pull(&old, "a", "out-a3");
    assert!(o.status.success(), "{}", show(&o));
    // The last recipient cannot be removed.
    let e = exits(
        &k.recipients_by("remove", &r, &k.p("b.pub"), "b", "signer"),
        1,
    );
    assert!(e.contains("only recipient"), "{e}");
    // An unencrypted model has no recipients to change.
    let open = format!("{}/models/open:v1", reg.addr);
    json(
        h,
        &[
            "push",
            tiny().to_str().unwrap(),
            &open,
            "--sign-key",
            &k.p("signer.key"),
        ],
    );
    let i = json(h, &["inspect", &open]);
    assert_eq!(
        (i["encrypted"].clone(), i["recipients"].clone()),
        (Value::Bool(false), serde_json::json!([]))
    );
    let e = exits(
        &k.recipients_by("add", &open, &k.p("c.pub"), "a", "signer"),
        1,
    );
    assert!(e.contains("is not encrypted"), "{e}");
    // With --policy, the current version is verified under it (signature and log entry),
    // so another key may re-sign; a puller trusting only `signer` then refuses (12).
    let o = pqreg(
        h,
        &[
            "-o",
            "json",
            "recipients",
            "add",
            &r,
            &k.p("c.pub"),
            "--identity",
            &k.p("b.key"),
            "--sign-key",
            &k.p("other.key"),
            "--policy",
            &k.p("trust.toml"),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["previous_signer"], signer.as_str());
    assert_eq!(v["signer"], k.key_id("other").as_str());
    exits(&k.pull(&r, "c", "out-c"), 12);
    // Missing flags are usage errors.
    fails(h, &["recipients", "add", &r, &k.p("c.pub")], 2);
}

/// Pushes a plain OCI image manifest (not a pqreg model) as `repo:v1`.
fn push_plain_image(reg: &Registry, repo: &str) {
    let c = RegistryClient::new(&reg.addr, None, TransferOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let path = dir.path().join("config");
    std::fs::write(&path, config).unwrap();
    let digest = Digest::sha256(config);
    c.push_blob_file(repo, &digest, config.len() as u64, &path)
        .unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest.to_string(), "size": config.len()},
        "layers": []
    });
    c.put_manifest(
        repo,
        "v1",
        &serde_json::to_vec(&manifest).unwrap(),
        "application/vnd.oci.image.manifest.v1+json",
    )
    .unwrap();
}

/// Pushes an SBOM-like referrer of the model `subject` (`size` bytes) to `repo`; returns
/// its digest.
fn push_other_referrer(reg: &Registry, repo: &str, subject: &str, size: u64) -> String {
    let c = RegistryClient::new(&reg.addr, None, TransferOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut descs = Vec::new();
    for (name, bytes) in [("empty", &b"{}"[..]), ("sbom", &b"{\"sbom\":true}"[..])] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let d = Digest::sha256(bytes);
        c.push_blob_file(repo, &d, bytes.len() as u64, &path)
            .unwrap();
        descs.push((d.to_string(), bytes.len()));
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.sbom+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": descs[0].0, "size": descs[0].1},
        "layers": [{"mediaType": "application/vnd.example.sbom+json", "digest": descs[1].0, "size": descs[1].1}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": size}
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let d = Digest::sha256(&bytes);
    c.put_manifest(
        repo,
        &d.to_string(),
        &bytes,
        "application/vnd.oci.image.manifest.v1+json",
    )
    .unwrap();
    d.to_string()
}

#[test]
fn copy_within_and_across_registries() {
    let reg = start_with_origin("source.test/log");
    let reg2 = start_with_origin("destination.test/log");
    let k = Keys::new();
    let h = k.h();
    let pushed = k.push(&reg, "models/tiny:v1", "a", "signer");
    let digest = pushed["digest"].as_str().unwrap().to_owned();
    let src = format!("{}/models/tiny:v1", reg.addr);
    let size = json(h, &["inspect", &src])["size"].as_u64().unwrap();
    let sbom = push_other_referrer(&reg, "models/tiny", &digest, size);
    let i = json(h, &["inspect", &src]);
    assert_eq!(i["other_referrers"][0]["digest"], sbom.as_str());
    assert_eq!(
        i["other_referrers"][0]["media_type"],
        "application/vnd.example.sbom+json"
    );
    policy(&h.join("trust.toml"), &h.join("signer.pub"), &[&reg, &reg2]);
    let verify = |r: &str| {
        json(
            h,
            &[
                "verify",
                r,
                "--identity",
                &k.p("a.key"),
                "--policy",
                &k.p("trust.toml"),
            ],
        )
    };

    // The signature must be re-logged for the destination repository: without the
    // signer's public key, copy refuses before it copies anything.
    let copies = format!("{}/copies/tiny", reg.addr);
    let before = reg.requests("POST", "uploads", None);
    let e = fails(h, &["copy", &src, &copies], 1);
    assert!(e.contains("must be re-logged"), "{e}");
    assert_eq!(
        reg.requests("POST", "uploads", None),
        before,
        "no blob mounted or uploaded"
    );
    let e = fails(h, &["inspect", &format!("{copies}@{digest}")], 1);
    assert!(e.contains("not found"), "{e}");

    // Same registry: every model blob is mounted; only the re-logged bundle is uploaded.
    let before = uploads(&reg);
    let c1 = json(
        h,
        &["copy", &src, &copies, "--signer-pub", &k.p("signer.pub")],
    );
    check_doc("copy", &c1);
    assert_eq!(uploads(&reg) - before, 1, "{c1}");
    assert_eq!(c1["uploaded_blobs"], 1);
    assert_eq!(c1["digest"], digest.as_str());
    assert_eq!(c1["tag"], "v1");
    // config, index, chunks, the SBOM's two blobs and the empty referrer config.
    assert_eq!(
        c1["mounted_blobs"],
        pushed["chunks"].as_u64().unwrap() + 4,
        "{c1}"
    );
    // The signature first (re-logged: a new bundle digest), then the SBOM unchanged.
    let refs = c1["referrers"].as_array().unwrap();
    assert_eq!(refs.len(), 2);
    assert_eq!(refs[1]["source"], sbom.as_str());
    assert_eq!(refs[1]["destination"], sbom.as_str());
    assert_eq!(refs[1]["relogged"], false);
    assert_eq!(
        (refs[0]["logged"].clone(), refs[0]["relogged"].clone()),
        (Value::Bool(true), Value::Bool(true))
    );
    assert_ne!(refs[0]["source"], refs[0]["destination"]);
    // verify with a policy that requires the log: the copy's entry names its repository.
    let v = verify(&format!("{copies}:v1"));
    check_doc("pull", &v);
    assert_eq!(v["digest"], digest.as_str());
    assert_eq!(v["log_verified"], true);
    assert_eq!(v["written_to"], Value::Null);
    let i = json(h, &["inspect", &format!("{copies}:v1")]);
    assert_eq!(
        i["signatures"][0]["log_entries"][0]["repository"],
        "copies/tiny"
    );
    assert_eq!(i["signatures"][0]["referrer"], refs[0]["destination"]);

    // Another registry (keys from the policy): blobs uploaded, same digests, the
    // signature logged in that registry's log, verify and pull pass there.
    let before2 = uploads(&reg2);
    let dst = format!("{}/mirror/tiny:prod", reg2.addr);
    let c2 = json(h, &["copy", &src, &dst, "--policy", &k.p("trust.toml")]);
    check_doc("copy", &c2);
    assert_eq!(c2["tag"], "prod");
    assert_eq!(c2["digest"], digest.as_str());
    assert_eq!(c2["mounted_blobs"], 0);
    let n = c2["uploaded_blobs"].as_u64().unwrap();
    assert_eq!(uploads(&reg2) - before2, n);
    // config, index, chunks, the re-logged bundle, the empty referrer config, the SBOM.
    assert_eq!(n, pushed["chunks"].as_u64().unwrap() + 5);
    let i = json(h, &["inspect", &dst]);
    assert_eq!(i["other_referrers"][0]["digest"], sbom.as_str());
    assert_eq!(c2["referrers"][0]["relogged"], true);
    let i = json(h, &["inspect", &dst]);
    assert_eq!(i["digest"], digest.as_str());
    assert_eq!(i["signatures"].as_array().unwrap().len(), 1);
    assert_eq!(
        i["signatures"][0]["log_entries"][0]["origin"],
        "destination.test/log"
    );
    assert_eq!(verify(&dst)["log_verified"], true);
    let o = pqreg(
        h,
        &[
            "pull",
            &dst,
            &k.p("out"),
            "--identity",
            &k.p("a.key"),
            "--policy",
            &k.p("trust.toml"),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(files(&h.join("out")), files(&tiny()));
    // A second copy uploads no model blob (only a newly logged bundle).
    let c3 = json(h, &["copy", &src, &dst, "--policy", &k.p("trust.toml")]);
    assert_eq!(c3["uploaded_blobs"], 1, "{c3}");

    // Negative: a missing source, a non-pqreg manifest, a digest destination.
    let e = fails(
        h,
        &[
            "copy",
            &format!("{}/nothing/here:v1", reg.addr),
            &format!("{}/x/y", reg2.addr),
        ],
        1,
    );
    assert!(e.contains("not found"), "{e}");
    push_plain_image(&reg, "images/plain");
    let plain = format!("{}/images/plain:v1", reg.addr);
    let e = fails(h, &["inspect", &plain], 1);
    assert!(e.contains("is not a pqreg model"), "{e}");
    let e = fails(
        h,
        &["copy", &plain, &format!("{}/images/plain2", reg2.addr)],
        1,
    );
    assert!(e.contains("is not a pqreg model"), "{e}");
    fails(h, &["copy", &src, &format!("{}/x@{digest}", reg2.addr)], 2);
    fails(h, &["copy", &src, &src], 2);
}

/// keygen, env, login and logout in JSON (push, pull, verify, inspect, recipients and
/// copy are checked above).
#[test]
fn json_of_local_commands() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    check_doc(
        "keygen",
        &json(
            h,
            &[
                "keygen",
                "--recipient",
                "--out",
                h.join("r").to_str().unwrap(),
            ],
        ),
    );
    let mut login = Command::new(env!("CARGO_BIN_EXE_pqreg"));
    login
        .args([
            "-o",
            "json",
            "login",
            "localhost:5000",
            "-u",
            "me",
            "--password-stdin",
        ])
        .env("HOME", h)
        .env("DOCKER_CONFIG", h.join("docker"))
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    {
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(b"secret\n").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", show(&o));
    check_doc("login", &serde_json::from_slice(&o.stdout).unwrap());
    let env = json(h, &["env"]);
    check_doc("env", &env);
    assert_eq!(
        env["credentials"],
        serde_json::json!({"localhost:5000": "auths"})
    );
    check_doc("logout", &json(h, &["logout", "localhost:5000"]));
}

/// A model with a classical (ECDSA P-256) bundle too: copy re-logs the ML-DSA bundle first,
/// so the destination accepts the classical one unchanged; recipients re-signs both.
#[test]
fn classical_bundle_is_copied_after_the_relogged_one() {
    let reg = start_with_origin("one.test/log");
    let reg2 = start_with_origin("two.test/log");
    let k = Keys::new();
    let h = k.h();
    json(
        h,
        &[
            "keygen",
            "--sign",
            "--alg",
            "ecdsa-p256",
            "--out",
            &k.p("p256"),
        ],
    );
    let src = format!("{}/models/tiny:v1", reg.addr);
    let pushed = json(
        h,
        &[
            "push",
            tiny().to_str().unwrap(),
            &src,
            "--recipient",
            &k.p("a.pub"),
            "--sign-key",
            &k.p("signer.key"),
            "--classic-sign-key",
            &k.p("p256.key"),
        ],
    );
    let digest = pushed["digest"].as_str().unwrap().to_owned();
    let algs = |i: &Value| {
        let mut v: Vec<String> = i["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["algorithm"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        algs(&json(h, &["inspect", &src])),
        ["ecdsa-p256-sha256", "ml-dsa-65"]
    );
    let dst = format!("{}/mirror/tiny:v1", reg2.addr);
    let c = json(h, &["copy", &src, &dst, "--signer-pub", &k.p("signer.pub")]);
    let refs = c["referrers"].as_array().unwrap();
    assert_eq!(refs.len(), 2);
    assert_eq!(refs[0]["relogged"], true);
    assert_eq!(refs[1]["relogged"], false);
    assert_eq!(refs[1]["source"], refs[1]["destination"]);
    let i = json(h, &["inspect", &dst]);
    assert_eq!(i["digest"], digest.as_str());
    assert_eq!(algs(&i), ["ecdsa-p256-sha256", "ml-dsa-65"]);
    policy(&h.join("trust.toml"), &h.join("signer.pub"), &[&reg2]);
    let v = json(
        h,
        &[
            "verify",
            &dst,
            "--identity",
            &k.p("a.key"),
            "--policy",
            &k.p("trust.toml"),
        ],
    );
    assert_eq!(v["log_verified"], true);

    // recipients add with the classical key too: both bundles for the new manifest.
    let o = pqreg(
        h,
        &[
            "-o",
            "json",
            "recipients",
            "add",
            &dst,
            &k.p("b.pub"),
            "--identity",
            &k.p("a.key"),
            "--sign-key",
            &k.p("signer.key"),
            "--classic-sign-key",
            &k.p("p256.key"),
        ],
    );
    assert!(o.status.success(), "{}", show(&o));
    let i = json(h, &["inspect", &dst]);
    assert_ne!(i["digest"], digest.as_str());
    assert_eq!(algs(&i), ["ecdsa-p256-sha256", "ml-dsa-65"]);
    let o = k.pull(&dst, "b", "out");
    assert!(o.status.success(), "{}", show(&o));
    // Without it, the classical bundle is not carried over, and the client says so.
    let o = k.recipients("add", &dst, "c", "a");
    assert!(o.status.success(), "{}", show(&o));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("had a classical (ECDSA P-256) bundle"), "{e}");
    assert_eq!(algs(&json(h, &["inspect", &dst])), ["ml-dsa-65"]);
}
