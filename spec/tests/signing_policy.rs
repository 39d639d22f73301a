//! The trust policy: parsing (strict, one error per defect) and authorization (distinct
//! errors for no rule, untrusted signer and weak algorithm).
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml covers #[test] fns only)

use pqreg_spec::Digest;
use pqreg_spec::dsse::SigningError;
use pqreg_spec::keys::{KeyId, SignatureAlgorithm};
use pqreg_spec::policy::{Policy, PolicyError};

fn pol_err(e: SigningError) -> PolicyError {
    match e {
        SigningError::Policy(p) => p,
        other => panic!("expected a policy error, got {other:?}"),
    }
}

fn id(s: &[u8]) -> KeyId {
    KeyId(Digest::sha256(s))
}

fn base() -> String {
    format!(
        r#"version = 1

[[keys]]
name = "pq"
alg = "ml-dsa-65"
id = "{}"

[[keys]]
alg = "ml-dsa-87"
id = "{}"

[[keys]]
name = "classic"
alg = "ecdsa-p256-sha256"
id = "{}"

[[rules]]
repositories = ["r.example/models/*", "r.example/team/**"]
signers = ["pq", "{}"]

[[rules]]
repositories = ["r.example/legacy/*"]
signers = ["classic"]
require_log = false
"#,
        id(b"pq"),
        id(b"87"),
        id(b"classic"),
        id(b"87")
    )
}

#[test]
fn authorize() {
    let p = Policy::from_toml(&base()).unwrap();
    assert_eq!(p.keys.len(), 3);
    assert_eq!(p.keys[1].alg, SignatureAlgorithm::MlDsa87);
    p.authorize("r.example/models/llama", &id(b"pq")).unwrap();
    p.authorize("r.example/team/a/b/c", &id(b"87")).unwrap();
    // A classical key is refused without an explicit opt-out (issue 12 point 6)...
    let e = pol_err(
        p.authorize("r.example/legacy/old", &id(b"classic"))
            .unwrap_err(),
    );
    assert!(
        matches!(
            e,
            PolicyError::WeakAlgorithm {
                alg: "ecdsa-p256-sha256",
                min: "ml-dsa-44",
                ..
            }
        ),
        "{e:?}"
    );
    // ... and accepted where the rule names a classical minimum.
    let opted = Policy::from_toml(&base().replace(
        "require_log = false\n",
        "require_log = false\nmin_algorithm = \"ecdsa-p256-sha256\"\n",
    ))
    .unwrap();
    opted
        .authorize("r.example/legacy/old", &id(b"classic"))
        .unwrap();
    let e = pol_err(
        p.authorize("r.example/models/llama", &id(b"classic"))
            .unwrap_err(),
    );
    assert!(matches!(e, PolicyError::UntrustedSigner { .. }), "{e:?}");
    let e = pol_err(
        p.authorize("r.example/models/llama", &id(b"stranger"))
            .unwrap_err(),
    );
    assert!(matches!(e, PolicyError::UntrustedSigner { .. }), "{e:?}");
    let e = pol_err(p.authorize("r.example/other/x", &id(b"pq")).unwrap_err());
    assert!(matches!(e, PolicyError::NoRuleForRepository(ref r) if r == "r.example/other/x"));
    let e = pol_err(p.authorize("r.example/models/a/b", &id(b"pq")).unwrap_err());
    assert!(
        matches!(e, PolicyError::NoRuleForRepository(_)),
        "* stays in one component"
    );
    assert!(p.log_required("r.example/models/llama"));
    assert!(!p.log_required("r.example/legacy/old"));
    assert!(p.log_required("nowhere.example/x"));
    assert_eq!(p.keys_for("r.example/models/x").len(), 2);
    assert_eq!(p.keys_for("nowhere.example/x").len(), 0);
}

#[test]
fn min_algorithm() {
    let text = base().replace(
        "version = 1\n",
        "version = 1\nmin_algorithm = \"ml-dsa-65\"\n",
    );
    let p = Policy::from_toml(&text).unwrap();
    let e = pol_err(
        p.authorize("r.example/legacy/old", &id(b"classic"))
            .unwrap_err(),
    );
    assert!(
        matches!(
            e,
            PolicyError::WeakAlgorithm {
                alg: "ecdsa-p256-sha256",
                min: "ml-dsa-65",
                ..
            }
        ),
        "{e:?}"
    );
    p.authorize("r.example/models/x", &id(b"pq")).unwrap();
    // A rule may lower the minimum for its repositories.
    let text = text.replace(
        "require_log = false\n",
        "require_log = false\nmin_algorithm = \"ecdsa-p256-sha256\"\n",
    );
    Policy::from_toml(&text)
        .unwrap()
        .authorize("r.example/legacy/old", &id(b"classic"))
        .unwrap();
}

// The DSSE spec example key (secure-systems-lab/dsse protocol.md) as PEM; its key ID is
// SHA-256 of the DER.
const PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZ805D3eqNZywjCI19lInBJOp7YMr
CrzAH3CVTAOQ0jgMeCvVTiaRJaRPRDOv8UMs6U4SvKc6pnrIDOoSYI3fdA==
-----END PUBLIC KEY-----
";
const PEM_ID: &str = "sha256:f793580060562d6ff075d814ea698c282fcc779b0cde64d79ffc6301df00d14b";

#[test]
fn pem_keys() {
    let t = format!(
        "version = 1\n[[keys]]\nalg = \"ecdsa-p256-sha256\"\npublic_key = \"\"\"\n{PEM}\"\"\"\n[[rules]]\nrepositories = [\"a/b\"]\nsigners = [\"{PEM_ID}\"]\n"
    );
    let p = Policy::from_toml(&t).unwrap();
    assert_eq!(p.keys[0].id.to_string(), PEM_ID);
    let pk = p.keys[0].public_key.as_ref().unwrap();
    assert_eq!(pk.to_spki_der().len(), 91);
    assert_eq!(p.verifying_keys_for("a/b"), [pk]);
    let wrong_alg = t.replace("alg = \"ecdsa-p256-sha256\"", "alg = \"ml-dsa-65\"");
    let e = pol_err(Policy::from_toml(&wrong_alg).unwrap_err());
    assert!(matches!(e, PolicyError::AlgorithmMismatch { .. }), "{e:?}");
    let mismatch = t.replace("[[keys]]\n", &format!("[[keys]]\nid = \"{}\"\n", id(b"x")));
    let e = pol_err(Policy::from_toml(&mismatch).unwrap_err());
    assert!(matches!(e, PolicyError::KeyIdMismatch { .. }), "{e:?}");
    let broken = t.replace("MFkw", "M!kw");
    let e = pol_err(Policy::from_toml(&broken).unwrap_err());
    assert!(matches!(e, PolicyError::BadPem(..)), "{e:?}");
}

type Check = fn(&PolicyError) -> bool;

#[test]
fn strict_parsing() {
    let b = base();
    let cases: Vec<(String, Check)> = vec![
        (b.replace("version = 1", "version = 2"), |e| {
            matches!(e, PolicyError::UnsupportedVersion(2))
        }),
        (
            b.replace("version = 1", "version = 1\nrequire_logs = true"),
            |e| matches!(e, PolicyError::Toml(_)),
        ),
        (b.replace("version = 1", "version = 1\nversion = 1"), |e| {
            matches!(e, PolicyError::Toml(_))
        }),
        (
            b.replace("alg = \"ml-dsa-87\"", "alg = \"dilithium3\""),
            |e| matches!(e, PolicyError::UnknownAlgorithm(_)),
        ),
        (
            b.replace("signers = [\"classic\"]", "signers = [\"nobody\"]"),
            |e| matches!(e, PolicyError::UnknownKeyReference(_)),
        ),
        (b.replace("signers = [\"classic\"]", "signers = []"), |e| {
            matches!(e, PolicyError::EmptyRule(1))
        }),
        (b.replace("r.example/legacy/*", "R.example/legacy/*"), |e| {
            matches!(e, PolicyError::BadPattern(_))
        }),
        (b.replace("name = \"classic\"", "name = \"pq\""), |e| {
            matches!(e, PolicyError::DuplicateKey(_))
        }),
        (
            b.replace(&id(b"classic").to_string(), &id(b"pq").to_string()),
            |e| matches!(e, PolicyError::DuplicateKey(_)),
        ),
        (b.replace(&id(b"classic").to_string(), "sha256:xyz"), |e| {
            matches!(e, PolicyError::BadKeyId(_))
        }),
        (
            b.replace(&format!("id = \"{}\"", id(b"classic")), ""),
            |e| matches!(e, PolicyError::KeyWithoutId(_)),
        ),
    ];
    for (i, (text, want)) in cases.into_iter().enumerate() {
        let e = pol_err(Policy::from_toml(&text).unwrap_err());
        assert!(want(&e), "case {i}: {e:?}");
    }
}
