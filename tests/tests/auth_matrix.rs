//! Access control over real HTTP (spec/auth.md): a matrix of principals × operations ×
//! repositories against the token flow, the Basic mode, token expiry, audience, signature
//! and scope, cross-repository mounts, the filtered catalog and the audit log.

use base64::Engine;
use pqreg_tests::Registry;
use pqreg_tests::http::{Client, Response, with_query};
use pqreg_tests::oci::{manifest_path, push_image, sha256, uploads_path};
use serde_json::{Value, json};

const SERVICE: &str = "pqreg-registry";

fn basic(user: &str, pw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

/// Users and their passwords.
const USERS: &[(&str, &str)] = &[
    ("admin", "admin-pw"),
    ("alice", "alice-pw"),
    ("carol", "carol-pw"),
];

fn htpasswd() -> String {
    USERS
        .iter()
        .map(|(u, p)| format!("{u}:{}\n", bcrypt::hash(p, 4).expect("bcrypt")))
        .collect()
}

fn policy(mode: &str, htpasswd: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
[auth]
mode = "{mode}"
htpasswd = "{}"
[auth.groups]
ml = ["alice"]
[[auth.rules]]
repositories = ["**"]
users = ["admin"]
actions = ["pull", "push", "delete"]
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
{extra}
"#,
        htpasswd.display()
    )
}

/// A registry seeded (without access control) with one image in each repository, then
/// restarted with `config`.
fn seeded(config: impl Fn(&std::path::Path) -> String) -> (Registry, tempfile::TempDir) {
    let mut reg = Registry::start();
    let c = reg.client();
    for (i, repo) in ["models/a", "public/p", "secret/s"].iter().enumerate() {
        push_image(&c, repo, "v1", i as u64 + 1, 1);
    }
    let dir = tempfile::tempdir().expect("tmp");
    let pw = dir.path().join("htpasswd");
    std::fs::write(&pw, htpasswd()).expect("write htpasswd");
    reg.set_config(&config(dir.path()));
    reg.restart();
    (reg, dir)
}

/// Asks the token endpoint for `scope` as `user` (None: anonymous).
fn token(c: &Client, user: Option<(&str, &str)>, scope: &str) -> Response {
    let path = with_query(
        &with_query("/auth/token", "service", SERVICE),
        "scope",
        scope,
    );
    let auth = user.map(|(u, p)| basic(u, p));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    c.must("GET", &path, &headers, b"")
}

fn bearer_for(c: &Client, user: Option<(&str, &str)>, repo: &str, actions: &str) -> String {
    let r = token(c, user, &format!("repository:{repo}:{actions}"));
    assert_eq!(r.status, 200, "token: {}", r.text());
    let t = r.json()["token"].as_str().expect("token").to_owned();
    assert_eq!(r.json()["access_token"].as_str(), Some(t.as_str()));
    format!("Bearer {t}")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Pull,
    Push,
    Delete,
}

/// Performs `op` on `repo` with `auth` (an Authorization value or none).
fn perform(c: &Client, op: Op, repo: &str, auth: Option<&str>) -> Response {
    let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
    match op {
        Op::Pull => c.must("GET", &manifest_path(repo, "v1"), &h, b""),
        Op::Push => c.must("POST", &uploads_path(repo), &h, b""),
        // A digest that is not there: allowed → 404 MANIFEST_UNKNOWN (not 401/403).
        Op::Delete => c.must(
            "DELETE",
            &manifest_path(repo, &sha256(b"no such manifest")),
            &h,
            b"",
        ),
    }
}

fn allowed_status(op: Op) -> u16 {
    match op {
        Op::Pull => 200,
        Op::Push => 202,
        Op::Delete => 404,
    }
}

fn codes(r: &Response) -> Vec<String> {
    r.error_codes()
}

/// The expected matrix, written out by hand from the policy above.
fn expected(user: Option<&str>, repo: &str, op: Op) -> bool {
    matches!(
        (user, repo, op),
        (Some("admin"), _, _)
            | (Some("alice"), "models/a", Op::Pull | Op::Push)
            | (Some("carol"), "models/a", Op::Pull)
            | (_, "public/p", Op::Pull)
    )
}

#[test]
fn token_mode_matrix_of_principals_operations_repositories() {
    let (reg, dir) = seeded(|d| policy("token", &d.join("htpasswd"), ""));
    let c = reg.client();
    // GET /v2/ without credentials: the Bearer challenge names realm and service.
    let r = c.get("/v2/");
    assert_eq!(r.status, 401);
    assert_eq!(codes(&r), ["UNAUTHORIZED"]);
    let ch = r.header("www-authenticate").expect("challenge").to_owned();
    assert!(
        ch.starts_with("Bearer realm=\"http://") && ch.contains("/auth/token\""),
        "{ch}"
    );
    assert!(ch.contains(&format!("service=\"{SERVICE}\"")), "{ch}");

    let principals: [(Option<&str>, Option<&str>); 4] = [
        (None, None),
        (Some("admin"), Some("admin-pw")),
        (Some("alice"), Some("alice-pw")),
        (Some("carol"), Some("carol-pw")),
    ];
    let mut checked = 0;
    for (user, pw) in principals {
        for repo in ["models/a", "public/p", "secret/s"] {
            for op in [Op::Pull, Op::Push, Op::Delete] {
                let acts = match op {
                    Op::Pull => "pull",
                    Op::Push => "pull,push",
                    Op::Delete => "delete",
                };
                let creds = user.zip(pw);
                let bearer = bearer_for(&c, creds, repo, acts);
                let r = perform(&c, op, repo, Some(&bearer));
                let what = format!("{user:?} {op:?} {repo}");
                if expected(user, repo, op) {
                    assert_eq!(r.status, allowed_status(op), "{what}: {}", r.text());
                } else if user.is_none() {
                    // Anonymous: a token was issued with no actions; the registry answers
                    // 403 (the token asked for this scope and the policy refused it).
                    assert_eq!(r.status, 403, "{what}: {}", r.text());
                    assert_eq!(codes(&r), ["DENIED"], "{what}");
                } else {
                    assert_eq!(r.status, 403, "{what}: {}", r.text());
                    assert_eq!(codes(&r), ["DENIED"], "{what}");
                    let detail = &r.json()["errors"][0]["detail"][0];
                    assert_eq!(detail["name"], repo, "{what}");
                }
                // Without any credentials: 401 with a challenge naming the needed scope,
                // unless anonymous access is allowed.
                let r = perform(&c, op, repo, None);
                if expected(None, repo, op) {
                    assert_eq!(r.status, allowed_status(op), "anonymous {op:?} {repo}");
                } else {
                    assert_eq!(r.status, 401, "anonymous {op:?} {repo}: {}", r.text());
                    let ch = r.header("www-authenticate").expect("challenge");
                    assert!(
                        ch.contains(&format!("scope=\"repository:{repo}:{acts}\"")),
                        "{ch}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 36);

    // A token for one repository used on another: 403 with the challenge naming the other
    // scope and insufficient_scope (RFC 6750 §3.1): ask the token endpoint again.
    let bearer = bearer_for(&c, Some(("alice", "alice-pw")), "models/a", "pull");
    let r = perform(&c, Op::Pull, "models/b", Some(&bearer));
    assert_eq!(r.status, 403, "{}", r.text());
    let ch = r.header("www-authenticate").expect("challenge");
    assert!(
        ch.contains("scope=\"repository:models/b:pull\"") && ch.contains("insufficient_scope"),
        "{ch}"
    );
    // A pull-only token used to push where the policy would allow it: 403 with a challenge
    // for pull,push; a plain denial (carol) carries no challenge.
    let r = perform(&c, Op::Push, "models/a", Some(&bearer));
    assert_eq!(r.status, 403, "{}", r.text());
    let ch = r.header("www-authenticate").expect("challenge");
    assert!(
        ch.contains("scope=\"repository:models/a:pull,push\""),
        "{ch}"
    );
    let carol = bearer_for(&c, Some(("carol", "carol-pw")), "models/a", "pull,push");
    let r = perform(&c, Op::Push, "models/a", Some(&carol));
    assert_eq!(r.status, 403);
    assert!(r.header("www-authenticate").is_none(), "a denial is final");

    // Wrong password at the token endpoint: 401, no token.
    let r = token(&c, Some(("alice", "nope")), "repository:models/a:pull");
    assert_eq!(r.status, 401);
    assert_eq!(codes(&r), ["UNAUTHORIZED"]);
    assert!(r.json().get("token").is_none());
    // Unknown service or a malformed scope: 400 TOKEN_REQUEST_INVALID.
    let r = c.get("/auth/token?service=elsewhere&scope=repository:models/a:pull");
    assert_eq!(codes(&r), ["TOKEN_REQUEST_INVALID"]);
    let r = c.get(&with_query(
        &format!("/auth/token?service={SERVICE}"),
        "scope",
        "repository-models",
    ));
    assert_eq!(codes(&r), ["TOKEN_REQUEST_INVALID"]);

    // Basic credentials go straight to the registry too (pqreg login, curl).
    let r = perform(&c, Op::Pull, "models/a", Some(&basic("carol", "carol-pw")));
    assert_eq!(r.status, 200);
    let r = perform(&c, Op::Pull, "models/a", Some(&basic("carol", "wrong")));
    assert_eq!(r.status, 401);
    assert!(
        r.json()["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("wrong user name or password")
    );

    // The catalog lists only what the caller may pull.
    let list = |auth: Option<&str>| -> Vec<String> {
        let h: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
        let r = c.must("GET", "/v2/_catalog", &h, b"");
        assert_eq!(r.status, 200, "{}", r.text());
        serde_json::from_value(r.json()["repositories"].clone()).expect("list")
    };
    assert_eq!(
        list(Some(&basic("carol", "carol-pw"))),
        ["models/a", "public/p"]
    );
    assert_eq!(
        list(Some(&basic("admin", "admin-pw"))),
        ["models/a", "public/p", "secret/s"]
    );
    assert_eq!(list(None), ["public/p"]);
    // Paginated: one per page, still filtered.
    let h = basic("carol", "carol-pw");
    let r = c.must("GET", "/v2/_catalog?n=1", &[("Authorization", &h)], b"");
    assert_eq!(r.json()["repositories"], json!(["models/a"]));
    assert!(
        r.header("link")
            .is_some_and(|l| l.contains("last=models/a"))
    );
    let r = c.must(
        "GET",
        "/v2/_catalog?n=1&last=models/a",
        &[("Authorization", &h)],
        b"",
    );
    assert_eq!(r.json()["repositories"], json!(["public/p"]));

    // The log's read API is public; health too.
    assert_eq!(c.get("/log/checkpoint").status, 200);
    assert_eq!(c.get("/livez").status, 200);

    // The audit log: every decision, never a secret.
    let audit = std::fs::read_to_string(reg.data_dir().join("audit.log")).expect("audit log");
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["principal"] == "token:pqreg-registry/carol"
                && l["action"] == "push"
                && l["allowed"] == false
                && l["repository"] == "models/a")
    );
    assert!(
        lines
            .iter()
            .any(|l| l["action"] == "token" && l["principal"] == "alice" && l["allowed"] == true)
    );
    assert!(
        lines
            .iter()
            .any(|l| l["principal"] == "unauthenticated" && l["allowed"] == false)
    );
    for secret in [
        "alice-pw", "carol-pw", "admin-pw", "Bearer", "Basic ", "eyJ",
    ] {
        assert!(!audit.contains(secret), "audit log contains {secret:?}");
    }
    drop(dir);
}

#[test]
fn mount_needs_pull_on_the_source() {
    let (reg, dir) = seeded(|d| policy("basic", &d.join("htpasswd"), ""));
    let c = reg.client();
    // The config blob of secret/s (seed 3), which alice may not read.
    let secret_manifest = c.must(
        "GET",
        &manifest_path("secret/s", "v1"),
        &[("Authorization", &basic("admin", "admin-pw"))],
        b"",
    );
    assert_eq!(secret_manifest.status, 200);
    let layer = secret_manifest.json()["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .to_owned();
    let alice = basic("alice", "alice-pw");
    let path = format!("{}?mount={layer}&from=secret/s", uploads_path("models/a"));
    let r = c.must("POST", &path, &[("Authorization", &alice)], b"");
    // Not 201 (that would prove the blob exists in secret/s): a new session instead.
    assert_eq!(r.status, 202, "{}", r.text());
    // Admin, who may read secret/s, mounts it.
    let r = c.must(
        "POST",
        &path,
        &[("Authorization", &basic("admin", "admin-pw"))],
        b"",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // Alice can't read the blob through secret/s, but can through models/a now.
    let r = c.must(
        "GET",
        &format!("/v2/secret/s/blobs/{layer}"),
        &[("Authorization", &alice)],
        b"",
    );
    assert_eq!(r.status, 403);
    let r = c.must(
        "GET",
        &format!("/v2/models/a/blobs/{layer}"),
        &[("Authorization", &alice)],
        b"",
    );
    assert_eq!(r.status, 200);
    // Logging a signature needs push on its repository (spec/auth.md §2).
    let m = c.must(
        "GET",
        &manifest_path("models/a", "v1"),
        &[("Authorization", &alice)],
        b"",
    );
    let digest: pqreg_spec::Digest = sha256(&m.body).parse().expect("digest");
    let subs = pqreg_tests::log::signed_submissions("models/a", digest, 3);
    let post = |auth: Option<&str>, body: &[u8]| {
        let mut h = vec![("Content-Type", "application/json")];
        if let Some(a) = auth {
            h.push(("Authorization", a));
        }
        c.must("POST", "/log/v1/entries", &h, body)
    };
    let r = post(None, &subs[0]);
    assert_eq!(r.status, 401, "{}", r.text());
    let r = post(Some(&basic("carol", "carol-pw")), &subs[0]);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(codes(&r), ["DENIED"]);
    let r = post(Some(&alice), &subs[1]);
    assert_eq!(r.status, 200, "{}", r.text());
    // Basic mode's challenge.
    let r = c.get("/v2/");
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Basic realm="))
    );
    assert_eq!(
        c.must("GET", "/v2/", &[("Authorization", &alice)], b"")
            .status,
        200
    );
    drop(dir);
}

/// An external issuer's Ed25519 key: (PEM public key file content, signing key).
/// spec/auth.md §2: a witness's cosignature is `public` (its signature authenticates it),
/// also when `auth.log_public = false` keeps the log's read API private. Before the access
/// column of the route table, the middleware matched `/log/...` paths by string and took
/// the cosignature for a log read, so an anonymous witness was refused with `401` and a
/// private log could never be witnessed.
#[test]
fn a_witness_cosigns_a_private_log_without_credentials() {
    use pqreg_spec::note::{Note, NoteSigner, SignatureType};
    let witness =
        NoteSigner::generate("witness.test/w1", SignatureType::CosignatureEd25519).expect("key");
    let stranger =
        NoteSigner::generate("witness.test/w2", SignatureType::CosignatureEd25519).expect("key");
    let vkey = witness.verifier_key().to_string();
    let (reg, _dir) = seeded(|d| {
        policy(
            "basic",
            &d.join("htpasswd"),
            &format!("[log]\nwitnesses = [\"{vkey}\"]\n"),
        )
        .replacen("[auth]\n", "[auth]\nlog_public = false\n", 1)
    });
    let c = reg.client();
    let admin = basic("admin", "admin-pw");
    let as_admin = [("Authorization", admin.as_str())];

    // The log itself is private: anonymous reads are challenged.
    let r = c.get("/log/checkpoint");
    assert_eq!(r.status, 401, "{}", r.text());
    let r = c.get_with("/log/checkpoint", &as_admin);
    assert_eq!(r.status, 200, "{}", r.text());
    let cp = r.body.clone();
    let cosign = |signer: &NoteSigner| {
        let note = Note::parse(&cp).expect("checkpoint note");
        let mut only = Note::new(note.text()).expect("note");
        only.sign(signer, 1_764_115_230).expect("cosign");
        only.to_bytes()
    };
    let post = |body: &[u8]| {
        c.must(
            "POST",
            "/log/v1/cosignature",
            &[("Content-Type", "text/plain; charset=utf-8")],
            body,
        )
    };

    // An unknown witness's cosignature reaches the handler, which refuses it by its
    // signature (403 COSIGNATURE_INVALID), not by the caller's credentials (401).
    let r = post(&cosign(&stranger));
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(codes(&r), ["COSIGNATURE_INVALID"]);
    // The configured witness, with no credentials: accepted, and served with the checkpoint.
    let r = post(&cosign(&witness));
    assert_eq!(r.status, 204, "{}", r.text());
    let served = c.get_with("/log/checkpoint", &as_admin);
    assert_eq!(served.status, 200);
    assert!(
        served.text().contains("\u{2014} witness.test/w1 "),
        "the cosignature is served: {}",
        served.text()
    );
    // Reads stay private after the write.
    assert_eq!(c.get("/log/v1/keys").status, 401);

    // A request that matches no route needs nothing and reaches nothing: a known path with
    // another method is 405, an unknown path 404, neither asking for credentials.
    let r = c.must("PATCH", &manifest_path("secret/s", "v1"), &[], b"");
    assert_eq!(r.status, 405, "{}", r.text());
    assert_eq!(codes(&r), ["UNSUPPORTED"]);
    let r = c.get("/v2/secret/s/nothing/here");
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.header("www-authenticate").is_none());
}

fn external_issuer() -> (String, jsonwebtoken::EncodingKey) {
    use pqreg_spec::keys::{SignatureAlgorithm, SigningKey};
    let key = SigningKey::generate(SignatureAlgorithm::Ed25519).expect("gen");
    (
        key.verifying_key().to_pem().expect("pem"),
        jsonwebtoken::EncodingKey::from_ed_der(&key.to_pkcs8_der().expect("pkcs8")),
    )
}

#[test]
fn external_issuer_tokens_expiry_audience_signature_scope() {
    let (pem, key) = external_issuer();
    let (_, stranger) = external_issuer();
    let (reg, dir) = seeded(|d| {
        std::fs::write(d.join("sso.pem"), &pem).expect("write issuer key");
        policy(
            "token",
            &d.join("htpasswd"),
            &format!(
                "[[auth.token.trusted_issuers]]\nissuer = \"sso.example\"\npublic_key = \"{}\"\n",
                d.join("sso.pem").display()
            ),
        )
    });
    let c = reg.client();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let mint = |k: &jsonwebtoken::EncodingKey, over: Value| {
        let mut claims = json!({
            "iss": "sso.example", "sub": "dave", "aud": SERVICE,
            "iat": now, "nbf": now, "exp": now + 300,
            "access": [{"type": "repository", "name": "secret/s", "actions": ["pull"]}]
        });
        for (k2, v) in over.as_object().expect("object") {
            claims[k2] = v.clone();
        }
        let t = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
            &claims,
            k,
        )
        .expect("mint");
        format!("Bearer {t}")
    };
    let pull = |auth: &str| perform(&c, Op::Pull, "secret/s", Some(auth));
    // The external issuer grants dave pull on secret/s, which no local rule gives him.
    assert_eq!(pull(&mint(&key, json!({}))).status, 200);
    let cases = [
        (mint(&key, json!({"exp": now - 600})), "expired"),
        (
            mint(&key, json!({"aud": "other-registry"})),
            "another service",
        ),
        (mint(&stranger, json!({})), "signature"),
        (mint(&key, json!({"nbf": now + 3600})), "not valid yet"),
    ];
    for (auth, want) in cases {
        let r = pull(&auth);
        assert_eq!(r.status, 401, "{want}: {}", r.text());
        assert_eq!(codes(&r), ["UNAUTHORIZED"]);
        let msg = r.json()["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(msg.contains(want), "{msg:?} should say {want:?}");
        assert!(!msg.contains("eyJ"), "the message must not echo the token");
    }
    // Right issuer, wrong scope: pull granted on secret/s only.
    let r = perform(&c, Op::Pull, "models/a", Some(&mint(&key, json!({}))));
    assert_eq!(r.status, 403);
    let ch = r.header("www-authenticate").expect("challenge");
    assert!(ch.contains("insufficient_scope"), "{ch}");
    let r = perform(&c, Op::Delete, "secret/s", Some(&mint(&key, json!({}))));
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(codes(&r), ["DENIED"]);
    drop(dir);
}
