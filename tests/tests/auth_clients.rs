//! Real clients through the registry's access control (spec/auth.md): skopeo (Debian) and
//! oras-py (PyPI) complete the Bearer token flow unchanged, and are refused where the policy
//! says so, with the refusal visible to them and recorded in the audit log.

use std::path::Path;
use std::process::Command;

use pqreg_tests::Registry;
use pqreg_tests::layout::write_image_layout;
use pqreg_tests::oci::manifest_path;
use pqreg_tests::tools::{oras_python, tool, workspace_root};

const CONFIG: &str = r#"
[auth]
mode = "token"
htpasswd = "HTPASSWD"
[[auth.rules]]
repositories = ["team/**"]
users = ["alice"]
actions = ["pull", "push"]
[[auth.rules]]
repositories = ["team/**", "other/**"]
users = ["bob"]
actions = ["pull"]
"#;

fn registry() -> (Registry, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let pw = dir.path().join("htpasswd");
    let lines: String = [("alice", "alice-pw"), ("bob", "bob-pw")]
        .iter()
        .map(|(u, p)| format!("{u}:{}\n", bcrypt::hash(p, 4).expect("bcrypt")))
        .collect();
    std::fs::write(&pw, lines).expect("htpasswd");
    let mut reg = Registry::start();
    reg.set_config(&CONFIG.replace("HTPASSWD", &pw.display().to_string()));
    reg.restart();
    (reg, dir)
}

fn skopeo(dir: &Path, args: &[&str]) -> (bool, String) {
    let policy = dir.join("policy.json");
    std::fs::write(
        &policy,
        br#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .expect("policy");
    let out = Command::new("skopeo")
        .arg("--policy")
        .arg(&policy)
        .args(args)
        .env("REGISTRY_AUTH_FILE", dir.join("auth.json"))
        .output()
        .expect("run skopeo");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn skopeo_token_flow_allowed_and_refused() {
    if tool("skopeo", &["--version"]).is_none() {
        return;
    }
    let (reg, dir) = registry();
    let src = dir.path().join("layout");
    write_image_layout(&src, "v1", 11);
    let from = format!("oci:{}:v1", src.display());
    let to = |repo: &str| format!("docker://{}/{repo}:v1", reg.host());
    let copy = |creds: &str, repo: &str| {
        skopeo(
            dir.path(),
            &[
                "copy",
                "--dest-tls-verify=false",
                "--dest-creds",
                creds,
                &from,
                &to(repo),
            ],
        )
    };
    let (ok, err) = copy("alice:alice-pw", "team/model");
    assert!(ok, "alice may push to team/model: {err}\n{}", reg.log());
    // The manifest is there, but only for someone who may read it.
    assert_eq!(
        reg.client().get(&manifest_path("team/model", "v1")).status,
        401
    );
    let (ok, err) = skopeo(
        dir.path(),
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            "bob:bob-pw",
            &to("team/model"),
        ],
    );
    assert!(ok, "bob may pull team/model: {err}");
    // Refusals: bob may not push; alice may not push outside team/; a wrong password.
    for (creds, repo) in [
        ("bob:bob-pw", "team/model2"),
        ("alice:alice-pw", "other/model"),
        ("alice:wrong", "team/model3"),
    ] {
        let (ok, err) = copy(creds, repo);
        assert!(!ok, "{creds} pushing {repo} must fail");
        let e = err.to_lowercase();
        assert!(
            e.contains("denied")
                || e.contains("forbidden")
                || e.contains("unauthorized")
                || e.contains("authentication required"),
            "{creds} → {repo}: skopeo should report the refusal: {err}"
        );
    }
    let audit = std::fs::read_to_string(reg.data_dir().join("audit.log")).expect("audit");
    assert!(
        audit.contains("\"repository\":\"other/model\"") && audit.contains("\"allowed\":false")
    );
    assert!(!audit.contains("alice-pw") && !audit.contains("bob-pw"));
}

#[test]
fn oras_py_login_push_pull_and_refusals() {
    let Some(py) = oras_python() else { return };
    let (reg, dir) = registry();
    let script = workspace_root().join("tests/py/oras_auth.py");
    let run = |user: &str, pw: &str, repo: &str, sub: &str| -> serde_json::Value {
        let work = dir.path().join(sub);
        let out = Command::new(&py)
            .arg(&script)
            .args([
                reg.host().as_str(),
                user,
                pw,
                repo,
                work.to_str().expect("utf-8"),
            ])
            .output()
            .expect("run oras_auth.py");
        assert!(
            out.status.success(),
            "oras_auth.py: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            reg.log()
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let r = run("alice", "alice-pw", "team/oras", "a");
    assert_eq!(r["push"], 201, "alice push: {r}");
    assert_eq!(r["pull"], true, "alice pull: {r}");
    // bob may read team/oras but not write other/oras.
    let r = run("bob", "bob-pw", "other/oras", "b");
    assert_ne!(r["push"], 201, "bob must not push other/oras: {r}");
    let r = run("bob", "bob-pw", "team/oras", "c");
    // bob's push of the same artifact is refused; the pull of alice's succeeds.
    assert_ne!(r["push"], 201, "bob must not push team/oras: {r}");
    assert_eq!(r["pull"], true, "bob may pull team/oras: {r}");
    // Nobody, without credentials, reads team/oras.
    let r = run("nobody", "nothing", "team/oras", "d");
    assert_eq!(r["pull"], false, "a wrong password must not pull: {r}");
}
