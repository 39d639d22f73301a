//! Issue 16: `pull --include/--exclude` and the free-space check, with the real `pqreg`
//! binary against the real `pqreg-registry` on 127.0.0.1.
//!
//! - only the matching files are written, byte-identical, into an existing empty
//!   directory (a Kubernetes emptyDir); `*` stays within a directory, `**` spans them;
//! - the signature is still checked: an untrusted signer is refused (12) and nothing is
//!   written, whatever the selection;
//! - only verified bytes are written: with every chunk blob corrupted in the registry's
//!   store, a pull of one file exits 10 and leaves the directory empty;
//! - a selection of nothing and a malformed glob are usage errors (2);
//! - a model larger than the free space of the output's file system is refused with
//!   exit 28 (NO_SPACE) before anything is written (a small tmpfs made by `unshare`
//!   when the machine allows it, otherwise skipped with the reason);
//! - the README's Kubernetes init container: its `command` is read from README.md and
//!   run as written (only the reference, the mount paths and the key paths replaced by
//!   the test's) into an existing empty directory.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

#[allow(dead_code)]
use crate::log_common::*;
use crate::registry_common::{Registry, start};

/// The tiny model plus files a server does not need: a README and a nested ONNX export.
fn model(h: &Home) -> PathBuf {
    let m = h.path().join("model");
    copy_dir(&tiny(), &m);
    std::fs::write(m.join("README.md"), "# tiny\nnot needed at serving time\n").unwrap();
    std::fs::create_dir_all(m.join("onnx")).unwrap();
    std::fs::write(m.join("onnx/model.onnx"), vec![7u8; 4096]).unwrap();
    std::fs::write(m.join("onnx/config.json"), "{\"onnx\": true}\n").unwrap();
    m
}

/// Relative paths of every regular file under `dir`, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_str().unwrap().to_owned());
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

fn pull(h: &Home, r: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let (out, id) = (out.to_str().unwrap().to_owned(), h.p("rcpt.key"));
    let mut a = vec!["-o", "json", "pull", r, &out, "--identity", &id];
    a.extend_from_slice(extra);
    h.run(&a)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn setup() -> (Registry, Home, PathBuf, String) {
    let reg = start();
    let h = Home::new();
    h.write_policy(&reg, None);
    let m = model(&h);
    let d = h.push_digest(&m, &format!("{}/models/sel:v1", reg.addr));
    let r = format!("{}/models/sel@{d}", reg.addr);
    (reg, h, m, r)
}

#[test]
fn include_and_exclude_write_only_the_selected_files() {
    let (_reg, h, m, r) = setup();
    let out = h.path().join("empty");
    std::fs::create_dir(&out).unwrap();
    let o = pull(
        &h,
        &r,
        &out,
        &["--include", "*.json", "--include", "*.safetensors"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(tree(&out), ["config.json", "model.safetensors"]);
    for f in tree(&out) {
        assert_eq!(
            std::fs::read(out.join(&f)).unwrap(),
            std::fs::read(m.join(&f)).unwrap()
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["files"], 2, "{v}");

    // `**` spans directories; --exclude wins over --include.
    let out2 = h.path().join("out2");
    let o = pull(
        &h,
        &r,
        &out2,
        &["--include", "**/*.json", "--exclude", "onnx/**"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(tree(&out2), ["config.json"]);
    let out3 = h.path().join("out3");
    let o = pull(
        &h,
        &r,
        &out3,
        &["--exclude", "onnx/**", "--exclude", "README.md"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        tree(&out3),
        ["config.json", "model.safetensors", "tokenizer.txt"]
    );

    // Nothing selected, or a broken glob: usage errors, nothing created.
    let out4 = h.path().join("out4");
    let o = pull(&h, &r, &out4, &["--include", "*.bin"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // -o json: the error is the JSON document on stdout.
    let err = String::from_utf8_lossy(&o.stdout);
    assert!(err.contains("selects none"), "{err}");
    let o = pull(&h, &r, &out4, &["--include", "[abc"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!out4.exists());
}

#[test]
fn a_selection_still_needs_a_trusted_signature() {
    let (reg, h, _m, r) = setup();
    // A policy whose only key is another one: the model's signer is untrusted.
    let other = Home::new();
    other.write_policy(&reg, None);
    let policy = other.path().join("config/pqreg/policy.toml");
    let out = h.path().join("empty");
    std::fs::create_dir(&out).unwrap();
    let o = pull(
        &h,
        &r,
        &out,
        &[
            "--include",
            "config.json",
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(12), "{}", stderr(&o));
    assert_eq!(tree(&out), Vec::<String>::new());
}

#[test]
fn a_selection_writes_only_verified_bytes() {
    let (reg, h, _m, r) = setup();
    // Flip one byte of every chunk blob in the registry's store, as a registry operator
    // (or a disk) could: config.json's chunk is among them.
    let digest = r.rsplit('@').next().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&get(&format!(
        "http://{}/v2/models/sel/manifests/{digest}",
        reg.addr
    )))
    .unwrap();
    let mut flipped = 0;
    for l in manifest["layers"].as_array().unwrap() {
        if !l["mediaType"].as_str().unwrap().contains(".chunk.") {
            continue;
        }
        let hex = l["digest"]
            .as_str()
            .unwrap()
            .strip_prefix("sha256:")
            .unwrap();
        let p = reg
            .data_dir()
            .join("blobs/sha256")
            .join(&hex[..2])
            .join(hex);
        let mut b = std::fs::read(&p).unwrap();
        let at = b.len() / 2;
        b[at] ^= 1;
        std::fs::write(&p, b).unwrap();
        flipped += 1;
    }
    assert!(flipped >= 3, "{manifest}");
    let out = h.path().join("empty");
    std::fs::create_dir(&out).unwrap();
    let o = pull(&h, &r, &out, &["--include", "config.json"]);
    assert_eq!(o.status.code(), Some(10), "{}", stderr(&o));
    assert_eq!(tree(&out), Vec::<String>::new());
}

/// The `command:` of the init container in README.md, as a list of arguments.
fn readme_command() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let start = readme
        .find("command: [\"pqreg\"")
        .expect("README.md has the init container's command");
    let rest = &readme[start + "command: ".len()..];
    let end = rest.find(']').unwrap();
    serde_json::from_str(&rest[..=end]).unwrap()
}

#[test]
fn the_readme_kubernetes_init_container_command_runs() {
    let (reg, h, m, r) = setup();
    let cmd = readme_command();
    assert_eq!(cmd[0], "pqreg");
    // The emptyDir exists and is empty before the init container runs.
    let models = h.path().join("models-emptydir");
    std::fs::create_dir(&models).unwrap();
    let policy = h.path().join("config/pqreg/policy.toml");
    let args: Vec<String> = cmd[1..]
        .iter()
        .map(|a| match a.as_str() {
            "$(MODEL_REF)" => r.clone(),
            "/models" => models.to_str().unwrap().to_owned(),
            "/keys/recipient.key" => h.p("rcpt.key"),
            "/etc/pqreg/policy.toml" => policy.to_str().unwrap().to_owned(),
            other => {
                assert!(!other.starts_with('/'), "unmapped path {other} in README");
                other.to_owned()
            }
        })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = h.run(&args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    assert_eq!(
        tree(&models),
        ["config.json", "model.safetensors", "tokenizer.txt"]
    );
    for f in tree(&models) {
        assert_eq!(
            std::fs::read(models.join(&f)).unwrap(),
            std::fs::read(m.join(&f)).unwrap()
        );
    }
    let _ = reg;
}

/// Runs `pqreg pull` inside a new user and mount namespace with the output on a 1 MiB
/// tmpfs; skipped (with the reason) where unprivileged namespaces are not allowed.
#[test]
fn a_model_larger_than_the_free_space_is_refused_before_writing() {
    let (_reg, h, _m, r) = setup();
    let small = h.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let probe = std::process::Command::new("unshare")
        .args(["-rm", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs -o size=1m none {}",
            small.display()
        ))
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        other => {
            eprintln!("SKIPPED: unshare -rm + tmpfs not available here: {other:?}");
            return;
        }
    }
    let bin = env!("CARGO_BIN_EXE_pqreg");
    let out = small.join("out");
    let script = format!(
        "mount -t tmpfs -o size=1m none {small} && {bin} pull {r} {out} --identity {id}; echo \"rc=$?\"; ls -A {small}",
        small = small.display(),
        out = out.display(),
        id = h.p("rcpt.key"),
    );
    let hp = h.path();
    let o = std::process::Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .env("HOME", hp)
        .env("XDG_CACHE_HOME", hp.join("cache"))
        .env("XDG_CONFIG_HOME", hp.join("config"))
        .env("XDG_STATE_HOME", hp.join("state"))
        .env("DOCKER_CONFIG", hp.join("docker"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    // The model is ~1.9 MB; the tmpfs holds 1 MiB.
    assert!(stdout.contains("rc=28"), "{stdout}\n{}", stderr(&o));
    assert!(stderr(&o).contains("free"), "{}", stderr(&o));
    // Nothing left on the small file system (no output, no staging directory).
    assert_eq!(stdout.trim_end().lines().last(), Some("rc=28"), "{stdout}");
}

/// Issue 16: unpack on an air-gapped cluster. `log proof --out --layout` on a connected
/// machine; on another home with the registry gone, `pull --offline` writes the model
/// (only the selected files) into an existing empty directory after checking the
/// signature, the policy and the log proof. A proof of another entry is refused (13) and
/// a layout whose signature is another key's (12): nothing is written either time.
#[test]
fn offline_pull_from_a_log_proof_layout() {
    let (reg, h, m, r) = setup();
    let proof = h.p("m.tlog-proof");
    let layout = h.p("layout");
    h.run_ok(&["log", "proof", &r, "--out", &proof, "--layout", &layout]);
    // A proof of a different entry: another model pushed to the same log.
    let r2 = format!("{}/models/other:v1", reg.addr);
    let d2 = h.push_digest(&tiny(), &r2);
    let wrong = h.p("other.tlog-proof");
    std::fs::write(
        &wrong,
        h.run_ok(&["log", "proof", &format!("{}/models/other@{d2}", reg.addr)]),
    )
    .unwrap();
    drop(reg);

    let air = Home::new();
    std::fs::copy(h.path().join("rcpt.key"), air.path().join("rcpt.key")).unwrap();
    std::fs::create_dir_all(air.path().join("config/pqreg")).unwrap();
    std::fs::copy(
        h.path().join("config/pqreg/policy.toml"),
        air.path().join("config/pqreg/policy.toml"),
    )
    .unwrap();
    let out = air.path().join("emptydir");
    std::fs::create_dir(&out).unwrap();
    let pull_offline = |proof: &str, policy: Option<&str>| {
        let mut a = vec![
            "-o".to_owned(),
            "json".into(),
            "pull".into(),
            r.clone(),
            out.to_str().unwrap().to_owned(),
            "--offline".into(),
            "--layout".into(),
            layout.clone(),
            "--proof".into(),
            proof.to_owned(),
            "--identity".into(),
            air.p("rcpt.key"),
            "--include".into(),
            "*.safetensors".into(),
            "--include".into(),
            "config.json".into(),
        ];
        if let Some(p) = policy {
            a.extend(["--policy".to_owned(), p.to_owned()]);
        }
        air.run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let o = pull_offline(&wrong, None);
    assert_eq!(
        o.status.code(),
        Some(13),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(tree(&out), Vec::<String>::new());
    let stranger = Home::new();
    stranger.write_policy_file_for_other_key(&air);
    let o = pull_offline(&proof, Some(&stranger.p("policy.toml")));
    assert_eq!(
        o.status.code(),
        Some(12),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(tree(&out), Vec::<String>::new());

    let o = pull_offline(&proof, None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["log_verified"], true, "{v}");
    assert_eq!(v["offline"], true, "{v}");
    assert_eq!(tree(&out), ["config.json", "model.safetensors"]);
    for f in tree(&out) {
        assert_eq!(
            std::fs::read(out.join(&f)).unwrap(),
            std::fs::read(m.join(&f)).unwrap()
        );
    }
}

trait OtherKeyPolicy {
    fn write_policy_file_for_other_key(&self, like: &Home);
}

impl OtherKeyPolicy for Home {
    /// `policy.toml` in this home: `like`'s default policy with this home's signer key in
    /// place of the model's signer (same log, same rules).
    fn write_policy_file_for_other_key(&self, like: &Home) {
        let text = std::fs::read_to_string(like.path().join("config/pqreg/policy.toml")).unwrap();
        let start = text.find("-----BEGIN").unwrap();
        let end =
            text.find("-----END PUBLIC KEY-----\n").unwrap() + "-----END PUBLIC KEY-----\n".len();
        let mine = std::fs::read_to_string(self.path().join("signer.pub")).unwrap();
        let text = format!("{}{}{}", &text[..start], mine, &text[end..]);
        std::fs::write(self.path().join("policy.toml"), text).unwrap();
    }
}
