use std::os::unix::fs::PermissionsExt as _;

use super::*;

struct Fixture {
    dir: tempfile::TempDir,
    env: AuthEnv,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let env = AuthEnv {
            docker_config: dir.path().join("docker").join("config.json"),
            containers_auth: Some(dir.path().join("run/containers/auth.json")),
            path: Some(bin.into_os_string()),
        };
        Fixture { dir, env }
    }

    fn write(&self, path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Installs `docker-credential-test`: a real helper that keeps its store in a
    /// directory, one file per host, and speaks the docker-credential-helpers protocol.
    fn install_helper(&self) -> PathBuf {
        let store = self.dir.path().join("store");
        std::fs::create_dir_all(&store).unwrap();
        let script = format!(
            r#"#!/bin/sh
store='{store}'
read -r input || true
case "$1" in
get)
  f="$store/$(printf %s "$input" | tr -c 'a-zA-Z0-9.:\n' _)"
  if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
store)
  host=$(printf %s "$input" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/')
  printf %s "$input" > "$store/$(printf %s "$host" | tr -c 'a-zA-Z0-9.:\n' _)" ;;
erase)
  f="$store/$(printf %s "$input" | tr -c 'a-zA-Z0-9.:\n' _)"
  if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
*) echo "unknown action" >&2; exit 2 ;;
esac
"#,
            store = store.display()
        );
        let exe = self.dir.path().join("bin").join("docker-credential-test");
        std::fs::write(&exe, script).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        store
    }
}

fn basic(u: &str, p: &str) -> Credential {
    Credential::Basic {
        username: u.into(),
        password: p.into(),
    }
}

#[test]
fn reads_auths_forms() {
    let f = Fixture::new();
    let auth = B64.encode("alice:s3cr:et");
    f.write(
        &f.env.docker_config,
        &format!(
            r#"{{"auths": {{
                "reg.io": {{"auth": "{auth}"}},
                "https://other.io/v1/": {{"username": "bob", "password": "pw"}},
                "tok.io": {{"identitytoken": "refresh"}},
                "empty.io": {{}}
            }}}}"#
        ),
    );
    let (c, src) = f.env.lookup("reg.io").unwrap().unwrap();
    // Only the first `:` separates user from password.
    assert_eq!(c, basic("alice", "s3cr:et"));
    assert_eq!(src, Source::File(f.env.docker_config.clone()));
    assert_eq!(
        f.env.lookup("other.io").unwrap().unwrap().0,
        basic("bob", "pw")
    );
    assert_eq!(
        f.env.lookup("tok.io").unwrap().unwrap().0,
        Credential::IdentityToken("refresh".into())
    );
    assert!(f.env.lookup("empty.io").unwrap().is_none());
    assert!(f.env.lookup("nowhere.io").unwrap().is_none());
}

#[test]
fn falls_back_to_containers_auth() {
    let f = Fixture::new();
    let auth = B64.encode("p:q");
    let path = f.env.containers_auth.clone().unwrap();
    f.write(
        &path,
        &format!(r#"{{"auths": {{"podman.io": {{"auth": "{auth}"}}}}}}"#),
    );
    // No docker config at all: still found.
    let (c, src) = f.env.lookup("podman.io").unwrap().unwrap();
    assert_eq!(c, basic("p", "q"));
    assert_eq!(src, Source::File(path));
}

#[test]
fn rejects_bad_files() {
    let f = Fixture::new();
    f.write(&f.env.docker_config, "[1]");
    assert!(matches!(
        f.env.lookup("reg.io"),
        Err(AuthError::BadConfig { .. })
    ));
    f.write(&f.env.docker_config, "{not json");
    assert!(matches!(
        f.env.lookup("reg.io"),
        Err(AuthError::BadConfig { .. })
    ));
    f.write(
        &f.env.docker_config,
        r#"{"auths": {"reg.io": {"auth": "!!!"}}}"#,
    );
    assert!(matches!(
        f.env.lookup("reg.io"),
        Err(AuthError::BadAuthField { .. })
    ));
    let no_colon = B64.encode("alice");
    f.write(
        &f.env.docker_config,
        &format!(r#"{{"auths": {{"reg.io": {{"auth": "{no_colon}"}}}}}}"#),
    );
    assert!(matches!(
        f.env.lookup("reg.io"),
        Err(AuthError::BadAuthField { .. })
    ));
}

#[test]
fn login_logout_file() {
    let f = Fixture::new();
    // Unrelated fields survive a login.
    f.write(
        &f.env.docker_config,
        r#"{"psFormat": "table", "auths": {}}"#,
    );
    let src = f.env.login("reg.io:5000", &basic("u", "p")).unwrap();
    assert_eq!(src, Source::File(f.env.docker_config.clone()));
    let meta = std::fs::metadata(&f.env.docker_config).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&f.env.docker_config).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["psFormat"], "table");
    assert_eq!(v["auths"]["reg.io:5000"]["auth"], B64.encode("u:p"));
    assert_eq!(
        f.env.lookup("reg.io:5000").unwrap().unwrap().0,
        basic("u", "p")
    );
    assert!(f.env.logout("reg.io:5000").unwrap());
    assert!(f.env.lookup("reg.io:5000").unwrap().is_none());
    assert!(!f.env.logout("reg.io:5000").unwrap());
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(f.env.docker_config.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("config.json")]);
}

#[test]
fn login_creates_missing_dir() {
    let f = Fixture::new();
    f.env.login("reg.io", &basic("u", "p")).unwrap();
    let dir = f.env.docker_config.parent().unwrap();
    assert_eq!(
        std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

#[test]
fn cred_helper_round_trip() {
    let f = Fixture::new();
    let store = f.install_helper();
    f.write(
        &f.env.docker_config,
        r#"{"credHelpers": {"reg.io": "test"}, "auths": {"reg.io": {"auth": "ignored"}}}"#,
    );
    // The helper wins over auths and answers "not found" before a login.
    assert!(f.env.lookup("reg.io").unwrap().is_none());
    let src = f.env.login("reg.io", &basic("u", "pw")).unwrap();
    assert_eq!(src, Source::Helper("test".into()));
    assert!(store.join("reg.io").exists());
    let (c, src) = f.env.lookup("reg.io").unwrap().unwrap();
    assert_eq!(c, basic("u", "pw"));
    assert_eq!(src, Source::Helper("test".into()));
    // The secret is not in the docker config.
    let text = std::fs::read_to_string(&f.env.docker_config).unwrap();
    assert!(!text.contains("pw"), "{text}");
    assert!(f.env.logout("reg.io").unwrap());
    assert!(!store.join("reg.io").exists());
    assert!(f.env.lookup("reg.io").unwrap().is_none());
}

#[test]
fn creds_store_and_token() {
    let f = Fixture::new();
    f.install_helper();
    f.write(&f.env.docker_config, r#"{"credsStore": "test"}"#);
    f.env
        .login("t.io", &Credential::IdentityToken("refresh".into()))
        .unwrap();
    assert_eq!(
        f.env.lookup("t.io").unwrap().unwrap().0,
        Credential::IdentityToken("refresh".into())
    );
}

#[test]
fn helper_errors() {
    let f = Fixture::new();
    f.write(&f.env.docker_config, r#"{"credsStore": "missing"}"#);
    assert!(matches!(
        f.env.lookup("reg.io"),
        Err(AuthError::HelperNotFound(h)) if h == "missing"
    ));
    f.write(&f.env.docker_config, r#"{"credsStore": "../../bin/sh"}"#);
    assert!(matches!(
        f.env.lookup("reg.io"),
        Err(AuthError::BadHelperName(_))
    ));
    // A helper that fails for another reason is an error, with its message.
    let exe = f.dir.path().join("bin/docker-credential-broken");
    std::fs::write(&exe, "#!/bin/sh\necho 'keychain locked' >&2\nexit 3\n").unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    f.write(&f.env.docker_config, r#"{"credsStore": "broken"}"#);
    match f.env.lookup("reg.io") {
        Err(AuthError::HelperFailed { message, .. }) => assert_eq!(message, "keychain locked"),
        other => panic!("{other:?}"),
    }
    let exe = f.dir.path().join("bin/docker-credential-garbage");
    std::fs::write(&exe, "#!/bin/sh\necho '{not json'\n").unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    f.write(&f.env.docker_config, r#"{"credsStore": "garbage"}"#);
    assert!(matches!(
        f.env.lookup("reg.io"),
        Err(AuthError::HelperBadOutput(_))
    ));
}

#[test]
fn debug_redacts() {
    let s = format!("{:?}", basic("u", "hunter2"));
    assert!(!s.contains("hunter2"));
    assert!(!format!("{:?}", Credential::IdentityToken("tok".into())).contains("tok"));
}

#[test]
fn normalizes_keys() {
    assert_eq!(normalize_host("https://reg.io/v1/"), "reg.io");
    assert_eq!(normalize_host("http://reg.io:5000"), "reg.io:5000");
    assert_eq!(normalize_host("reg.io"), "reg.io");
}
