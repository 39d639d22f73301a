//! The `pqreg-registry` binary: `check-config` and `gc` (`serve` is exercised through
//! `Running` in the other suites and by the black-box tests in `tests/`).

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pqreg-registry"));
    c.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    c
}

#[test]
fn check_config_defaults_and_overrides() {
    let out = bin()
        .arg("check-config")
        .env("PQREG_REGISTRY__GC__GRACE_PERIOD_SECS", "42")
        .env("PQREG_REGISTRY__DATA_DIR", "/srv/reg")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:5000\""), "{text}");
    assert!(text.contains("grace_period_secs = 42"), "{text}");
    assert!(text.contains("data_dir = \"/srv/reg\""), "{text}");
}

#[test]
fn check_config_rejects_typos_and_bad_files() {
    let out = bin()
        .arg("check-config")
        .env("PQREG_REGISTRY__LISTN", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unknown field `listn`"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.toml");
    std::fs::write(&f, "listen = 5\n").unwrap();
    let out = bin()
        .arg("--config")
        .arg(&f)
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    std::fs::write(&f, "listen = \"127.0.0.1:0\"\n[gc]\ninterval_secs = 0\n").unwrap();
    let out = bin()
        .arg("--config")
        .arg(&f)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn gc_command_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["gc", "--grace-period-secs", "0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["blobs_removed"], 0);
    assert!(dir.path().join("meta.redb").exists());
}
