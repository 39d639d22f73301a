use std::path::Path;

use super::middleware::Need;
use super::token::{AccessEntry, TokenError, Tokens};
use super::*;

fn cfg(toml_text: &str) -> AuthConfig {
    #[derive(Deserialize)]
    struct Wrap {
        auth: AuthConfig,
    }
    let w: Wrap = toml::from_str(toml_text).expect("auth config parses");
    w.auth
}

const POLICY: &str = r#"
[auth]
mode = "token"
htpasswd = "/nonexistent"
[auth.groups]
ml = ["alice", "bob"]
[[auth.rules]]
repositories = ["models/**"]
groups = ["ml"]
actions = ["pull", "push"]
[[auth.rules]]
repositories = ["models/*"]
users = ["carol"]
actions = ["pull"]
[[auth.rules]]
repositories = ["public/*"]
anonymous = true
actions = ["pull"]
[[auth.rules]]
repositories = ["scratch/**"]
users = ["*"]
actions = ["pull", "push", "delete"]
"#;

#[test]
fn policy_matches_globs_groups_and_anonymous() {
    let p = policy::Policy::new(&cfg(POLICY)).expect("policy");
    let pull: Actions = [Action::Pull].into_iter().collect();
    let pull_push: Actions = [Action::Pull, Action::Push].into_iter().collect();
    assert_eq!(p.allowed(Some("alice"), "models/a/b"), pull_push);
    assert_eq!(p.allowed(Some("bob"), "models/x"), pull_push);
    // `*` stays within one component: carol reads models/x but not models/a/b.
    assert_eq!(p.allowed(Some("carol"), "models/x"), pull);
    assert_eq!(p.allowed(Some("carol"), "models/a/b"), Actions::NONE);
    // Anonymous rules apply to everybody; nothing else applies to anonymous callers.
    assert_eq!(p.allowed(None, "public/x"), pull);
    assert_eq!(p.allowed(Some("alice"), "public/x"), pull);
    assert_eq!(p.allowed(None, "models/x"), Actions::NONE);
    assert_eq!(p.allowed(None, "public/x/y"), Actions::NONE);
    // `*` as a user: every authenticated user, never anonymous.
    assert!(p.allowed(Some("zed"), "scratch/q").has(Action::Delete));
    assert_eq!(p.allowed(None, "scratch/q"), Actions::NONE);
    // No rule, no access; a prefix is not a match.
    assert_eq!(p.allowed(Some("alice"), "modelsx/a"), Actions::NONE);
    assert_eq!(p.allowed(Some("alice"), "other"), Actions::NONE);
}

#[test]
fn policy_refuses_nonsense() {
    let bad = [
        (
            "[auth]\n[[auth.rules]]\nrepositories=[\"a\"]\ngroups=[\"nope\"]\nactions=[\"pull\"]\n",
            "unknown group",
        ),
        (
            "[auth]\n[[auth.rules]]\nrepositories=[\"a\"]\nanonymous=true\nactions=[\"push\"]\n",
            "pull only",
        ),
        (
            "[auth]\n[[auth.rules]]\nrepositories=[\"a\"]\nactions=[\"pull\"]\n",
            "applies to nobody",
        ),
        (
            "[auth]\n[[auth.rules]]\nrepositories=[]\nusers=[\"a\"]\nactions=[\"pull\"]\n",
            "no repositories",
        ),
        (
            "[auth]\n[[auth.rules]]\nrepositories=[\"a[\"]\nusers=[\"a\"]\nactions=[\"pull\"]\n",
            "pattern",
        ),
    ];
    for (text, want) in bad {
        let e = policy::Policy::new(&cfg(text)).err().expect("refused");
        assert!(e.contains(want), "{e} should mention {want}");
    }
}

#[test]
fn basic_auth_off_loopback_needs_tls() {
    let mut c = cfg("[auth]\nmode = \"basic\"\nhtpasswd = \"/x\"\n");
    assert!(c.validate("127.0.0.1:5000", false).is_ok());
    let e = c.validate("0.0.0.0:5000", false).expect_err("refused");
    assert!(e.contains("TLS"), "{e}");
    assert!(c.validate("0.0.0.0:5000", true).is_ok());
    c.allow_insecure_basic = true;
    assert!(c.validate("0.0.0.0:5000", false).is_ok());
    let e = cfg("[auth]\nmode = \"basic\"\n")
        .validate("127.0.0.1:5000", false)
        .expect_err("basic without htpasswd");
    assert!(e.contains("htpasswd"), "{e}");
}

fn bcrypt4(pw: &str) -> String {
    bcrypt::hash(pw, 4).expect("bcrypt")
}

#[test]
fn htpasswd_accepts_bcrypt_only_and_names_the_line() {
    let p = Path::new("users.htpasswd");
    let good = format!(
        "# comment\n\nalice:{}\nbob:{}\n",
        bcrypt4("a"),
        bcrypt4("b")
    );
    assert_eq!(htpasswd::parse(&good, p).expect("parses").len(), 2);
    let cases = [
        ("alice:$apr1$abc$def\n", ":1:"),
        ("alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", ":1:"),
        ("alice:plaintext\n", ":1:"),
        ("nocolon\n", ":1:"),
    ];
    for (text, at) in cases {
        let e = htpasswd::parse(text, p).expect_err("refused");
        assert!(e.contains(at), "{e}");
    }
    let dup = format!("alice:{}\nalice:{}\n", bcrypt4("a"), bcrypt4("b"));
    let e = htpasswd::parse(&dup, p).expect_err("duplicate");
    assert!(e.contains(":2:") && e.contains("twice"), "{e}");
}

#[test]
fn htpasswd_verifies_and_reloads() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("h");
    std::fs::write(&path, format!("alice:{}\n", bcrypt4("right"))).expect("write");
    let h = htpasswd::Htpasswd::open(&path).expect("open");
    assert!(h.verify("alice", "right"));
    assert!(h.verify("alice", "right")); // cached
    assert!(!h.verify("alice", "wrong"));
    assert!(!h.verify("mallory", "right"));
    // A new password takes effect when the file changes (mtime moves).
    std::fs::write(&path, format!("alice:{}\n", bcrypt4("new"))).expect("rewrite");
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(later))
        .expect("touch");
    assert!(
        !h.verify("alice", "right"),
        "old password still accepted after reload"
    );
    assert!(h.verify("alice", "new"));
    // A broken file refuses everyone (fail closed) until fixed.
    std::fs::write(&path, "alice:md5-not-bcrypt\n").expect("break");
    let later = later + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(later))
        .expect("touch");
    assert!(!h.verify("alice", "new"));
}

fn tokens(dir: &Path, extra: &[TrustedIssuer]) -> Tokens {
    let cfg = TokenConfig {
        trusted_issuers: extra.to_vec(),
        ..TokenConfig::default()
    };
    Tokens::open(&cfg, dir).expect("tokens")
}

fn entry(name: &str, actions: &[&str]) -> AccessEntry {
    AccessEntry {
        kind: "repository".into(),
        name: name.into(),
        actions: actions.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[test]
fn tokens_round_trip_and_key_persists() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = tokens(dir.path(), &[]);
    let (jwt, _) = t
        .issue(Some("alice"), vec![entry("models/a", &["pull", "push"])])
        .expect("issue");
    let g = t.verify(&jwt).expect("verifies");
    assert_eq!(g.subject.as_deref(), Some("alice"));
    assert!(g.actions("models/a").has(Action::Push));
    assert!(!g.actions("models/b").has(Action::Pull));
    assert!(g.mentions("models/a") && !g.mentions("models/b"));
    // Restart: the same key (file under dir) verifies the old token.
    let t2 = tokens(dir.path(), &[]);
    assert_eq!(t.kid(), t2.kid());
    assert!(t2.verify(&jwt).is_ok());
    // Another registry's key does not.
    let other = tempfile::tempdir().expect("tmp");
    assert_eq!(
        tokens(other.path(), &[]).verify(&jwt),
        Err(TokenError::Signature)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("token-ed25519.pem"))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

fn b64(v: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

#[test]
fn tokens_refuse_tampering_none_and_hmac() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = tokens(dir.path(), &[]);
    let (jwt, _) = t
        .issue(Some("carol"), vec![entry("models/a", &["pull"])])
        .expect("issue");
    let parts: Vec<&str> = jwt.split('.').collect();
    // Payload swapped for one granting push: the signature no longer matches.
    let forged = serde_json::json!({
        "iss": "pqreg-registry", "sub": "carol", "aud": "pqreg-registry",
        "exp": u64::MAX / 2, "access": [{"type": "repository", "name": "models/a", "actions": ["pull", "push"]}]
    });
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(forged.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(t.verify(&tampered), Err(TokenError::Signature));
    // alg none, and HMAC keyed with the public key (the classic confusion attack).
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(forged.to_string().as_bytes())
    );
    assert!(matches!(
        t.verify(&none),
        Err(TokenError::Algorithm | TokenError::Malformed)
    ));
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &forged,
        &jsonwebtoken::EncodingKey::from_secret(t.public_key_pem().as_bytes()),
    )
    .expect("hs256");
    assert_eq!(t.verify(&hs), Err(TokenError::Algorithm));
    assert_eq!(t.verify("garbage"), Err(TokenError::Malformed));
    let long = format!("{}.{}.{}", "a".repeat(9000), "b", "c");
    assert_eq!(t.verify(&long), Err(TokenError::Malformed));
}

fn ed25519_issuer(dir: &Path, name: &str) -> (TrustedIssuer, jsonwebtoken::EncodingKey) {
    use pqreg_spec::keys::{SignatureAlgorithm, SigningKey};
    let key = SigningKey::generate(SignatureAlgorithm::Ed25519).expect("gen");
    let path = dir.join(format!("{name}.pub.pem"));
    std::fs::write(&path, key.verifying_key().to_pem().expect("pem")).expect("write pub");
    (
        TrustedIssuer {
            issuer: name.into(),
            public_key: path,
        },
        jsonwebtoken::EncodingKey::from_ed_der(&key.to_pkcs8_der().expect("pkcs8")),
    )
}

fn mint(key: &jsonwebtoken::EncodingKey, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        key,
    )
    .expect("mint")
}

#[test]
fn external_issuer_claims_are_checked() {
    let dir = tempfile::tempdir().expect("tmp");
    let (issuer, key) = ed25519_issuer(dir.path(), "sso.example");
    let t = tokens(&dir.path().join("reg"), &[issuer]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let base = |over: serde_json::Value| {
        let mut c = serde_json::json!({
            "iss": "sso.example", "sub": "dave", "aud": "pqreg-registry",
            "nbf": now, "iat": now, "exp": now + 300,
            "access": [{"type": "repository", "name": "models/a", "actions": ["pull"]}]
        });
        for (k, v) in over.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    };
    let ok = t
        .verify(&mint(&key, base(serde_json::json!({}))))
        .expect("valid");
    assert_eq!(ok.issuer, "sso.example");
    assert!(ok.actions("models/a").has(Action::Pull));
    let cases = [
        (serde_json::json!({"exp": now - 120}), TokenError::Expired),
        (
            serde_json::json!({"nbf": now + 600}),
            TokenError::NotYetValid,
        ),
        (
            serde_json::json!({"aud": "another-registry"}),
            TokenError::Audience,
        ),
        (
            serde_json::json!({"iss": "pqreg-registry"}),
            TokenError::Signature,
        ),
        (
            serde_json::json!({"iss": "unknown.example"}),
            TokenError::Signature,
        ),
    ];
    for (over, want) in cases {
        let what = over.to_string();
        assert_eq!(t.verify(&mint(&key, base(over))), Err(want), "{what}");
    }
    // Within the 60 s leeway an expired token still passes.
    assert!(
        t.verify(&mint(&key, base(serde_json::json!({"exp": now - 30}))))
            .is_ok()
    );
}

/// Every route whose access is a repository action routes a repository (`{name}`): the
/// guard checks the repository the router matched for the handler, never one re-parsed
/// from the path.
#[test]
fn repository_needs_have_a_routed_repository() {
    for r in crate::api::ROUTES {
        let routed = r.path.starts_with("/v2/{name:.+}/");
        assert_eq!(
            r.need.action().is_some(),
            routed,
            "{} {} needs {}",
            r.method,
            r.path,
            r.need.as_str()
        );
    }
    // Mounts are the upload start's alone; every other write is a plain push.
    for r in crate::api::ROUTES.iter().filter(|r| r.need == Need::Upload) {
        assert_eq!(
            (
                r.method,
                r.path.ends_with("/blobs/uploads/") || r.path.ends_with("/blobs/uploads")
            ),
            ("POST", true)
        );
    }
    let names: Vec<&str> = Need::ALL.iter().map(|n| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "public",
            "login",
            "catalog",
            "pull",
            "push",
            "upload",
            "delete",
            "log-read",
            "log-submit"
        ]
    );
}

fn auth_state(dir: &Path, text: &str) -> Auth {
    let pw = dir.join("htpasswd");
    std::fs::write(
        &pw,
        format!("alice:{}\ncarol:{}\n", bcrypt4("a"), bcrypt4("c")),
    )
    .expect("htpasswd");
    let mut c = cfg(text);
    c.htpasswd = Some(pw);
    Auth::open(&c, dir).expect("auth")
}

#[test]
fn decisions_challenge_or_deny() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = auth_state(dir.path(), POLICY);
    let alice = Principal::User("alice".into());
    let carol = Principal::User("carol".into());
    assert_eq!(a.decide(&alice, "models/x", Action::Push), Decision::Allow);
    assert!(matches!(
        a.decide(&carol, "models/x", Action::Push),
        Decision::Deny(_)
    ));
    assert!(matches!(
        a.decide(&Principal::Anonymous, "models/x", Action::Pull),
        Decision::Challenge(_)
    ));
    assert_eq!(
        a.decide(&Principal::Anonymous, "public/x", Action::Pull),
        Decision::Allow
    );
    let tokens = a.tokens().expect("token mode");
    let grant = |sub: &str, name: &str, acts: &[&str]| {
        let (jwt, _) = tokens
            .issue(Some(sub), vec![entry(name, acts)])
            .expect("issue");
        Principal::Token(tokens.verify(&jwt).expect("verify"))
    };
    // A token without the repository at all: ask for a new token (401).
    let t = grant("alice", "models/other", &["pull"]);
    assert!(matches!(
        a.decide(&t, "models/x", Action::Pull),
        Decision::Challenge(_)
    ));
    // A pull-only token where the policy would grant push: ask again (401).
    let t = grant("alice", "models/x", &["pull"]);
    assert!(matches!(
        a.decide(&t, "models/x", Action::Push),
        Decision::Challenge(_)
    ));
    // Carol asked and was refused push: 403.
    let t = grant("carol", "models/x", &[]);
    assert!(matches!(
        a.decide(&t, "models/x", Action::Push),
        Decision::Deny(_)
    ));
    // A token whose rights the policy no longer grants is cut down to today's policy.
    let t = grant("carol", "models/x", &["pull", "push", "delete"]);
    assert!(!a.actions(&t, "models/x").has(Action::Push));
    assert!(a.actions(&t, "models/x").has(Action::Pull));
}
