//! The worked examples of spec/signing.md, checked against the code so the document
//! cannot drift: PAE, statement, bundle, referrer, trust policy and exit codes.
#![allow(clippy::unwrap_used)] // tests may unwrap (clippy.toml covers #[test] fns only)

mod signing_util;

use pqreg_spec::Digest;
use pqreg_spec::bundle::referrer::{Descriptor, OCI_MANIFEST_MEDIA_TYPE, ReferrerManifest};
use pqreg_spec::bundle::verify::ExitCode;
use pqreg_spec::bundle::{Bundle, PQREG_ENTRY_KIND};
use pqreg_spec::dsse::{SigningError, pae};
use pqreg_spec::keys::KeyId;
use pqreg_spec::policy::{Policy, PolicyError};
use pqreg_spec::statement::{Binding, FileEntry, Statement};
use signing_util::example;

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

fn bytes_json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).unwrap()
}

#[test]
fn pae_example() {
    let ex = example("pae");
    let field = |k: &str| {
        ex.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap()
            .to_owned()
    };
    let t = field("payloadType: ");
    let body = field("payload: ");
    assert_eq!(pae(&t, body.as_bytes()), field("PAE: ").as_bytes());
}

fn doc_statement() -> Statement {
    let ex = example("statement-files");
    let mut files = Vec::new();
    let mut manifest = None;
    for line in ex.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["manifest", d] => manifest = Some(d.parse::<Digest>().unwrap()),
            [path, hex, size] => files.push(FileEntry {
                path: (*path).into(),
                digest: Digest::from_hex(hex).unwrap(),
                size: size.parse().unwrap(),
            }),
            _ => panic!("bad line {line:?}"),
        }
    }
    Statement::from_files("tiny-model", &files, manifest).unwrap()
}

#[test]
fn statement_example() {
    let built = doc_statement();
    let doc = example("statement");
    assert_eq!(bytes_json(&built.to_json()), json(&doc));
    assert_eq!(Statement::from_json(doc.as_bytes()).unwrap(), built);
}

#[test]
fn bound_statement_example() {
    let mut b = Binding {
        repository: String::new(),
        tag: None,
        version: 0,
        signed_at: 0,
    };
    for line in example("statement-binding").lines() {
        let (k, v) = line.split_once(' ').unwrap();
        match k {
            "repository" => b.repository = v.into(),
            "tag" => b.tag = Some(v.into()),
            "version" => b.version = v.parse().unwrap(),
            "signed-at" => b.signed_at = v.parse().unwrap(),
            _ => panic!("bad line {line:?}"),
        }
    }
    let built = doc_statement().with_binding(b).unwrap();
    let wire = bytes_json(&built.to_json());
    assert_eq!(wire["subject"], json(&example("statement-bound-subject")));
    // The rest is the unbound example's; it parses back to the same statement.
    let mut rest = wire.clone();
    rest["subject"] = json(&example("statement"))["subject"].clone();
    assert_eq!(rest, json(&example("statement")));
    assert_eq!(Statement::from_json(&built.to_json()).unwrap(), built);
}

#[test]
fn bundle_and_referrer_examples() {
    let doc = example("bundle");
    let b = Bundle::from_json(doc.as_bytes()).unwrap();
    // The payload is exactly the statement example as pqreg writes it.
    assert_eq!(b.dsse_envelope.payload, doc_statement().to_json());
    let hint: Digest = b.public_key_hint().unwrap().parse().unwrap();
    assert_eq!(
        b.dsse_envelope.signatures[0].keyid,
        Some(KeyId(hint).to_string())
    );
    let e = b.pqreg_log_entry().unwrap();
    assert_eq!(e.kind, PQREG_ENTRY_KIND);
    assert_eq!(e.log_id, Digest::sha256(b"log.registry.example").as_bytes());
    assert_eq!(e.inclusion_proof.tree_size, 42);
    assert!(
        e.inclusion_proof
            .checkpoint
            .starts_with("log.registry.example\n42\n")
    );
    let compact = b.to_json();
    assert_eq!(bytes_json(&compact), json(&doc));

    let subject = Descriptor {
        media_type: OCI_MANIFEST_MEDIA_TYPE.into(),
        digest: doc_statement().manifest.unwrap(),
        size: 1234,
    };
    let r = ReferrerManifest::new(&compact, subject.clone(), "ml-dsa-65");
    let doc_ref = example("referrer");
    assert_eq!(bytes_json(&r.to_json()), json(&doc_ref));
    let parsed = ReferrerManifest::from_json(doc_ref.as_bytes()).unwrap();
    assert_eq!(parsed, r);
    assert_eq!(parsed.subject, subject);
    assert_eq!(parsed.bundle.digest, Digest::sha256(&compact));
}

#[test]
fn policy_example() {
    let p = Policy::from_toml(&example("policy")).unwrap();
    let id_of = |name: &str| {
        p.keys
            .iter()
            .find(|k| k.name.as_deref() == Some(name))
            .unwrap()
            .id
    };
    assert_eq!(
        id_of("legacy-ecdsa").to_string(),
        "sha256:f793580060562d6ff075d814ea698c282fcc779b0cde64d79ffc6301df00d14b"
    );
    // max_age and [[mirrors]] as the prose under the example says.
    assert_eq!(
        p.max_age("registry.example/models/llama"),
        Some(30 * 86_400)
    );
    assert_eq!(p.max_age("registry.example/sandbox/x/y"), None);
    assert_eq!(
        p.signed_repositories("mirror.internal:5000/cache/models/llama"),
        [
            "mirror.internal:5000/cache/models/llama",
            "registry.example/models/llama"
        ]
    );
    let mut n = 0;
    for line in example("policy-cases").lines() {
        let [repo, key, outcome, log] = line.split(' ').collect::<Vec<_>>()[..] else {
            panic!("bad line {line:?}")
        };
        let got = p.authorize(repo, &id_of(key));
        match outcome {
            "ok" => assert!(got.is_ok(), "{line}: {got:?}"),
            "UntrustedSigner" => assert!(
                matches!(
                    got,
                    Err(SigningError::Policy(PolicyError::UntrustedSigner { .. }))
                ),
                "{line}: {got:?}"
            ),
            "NoRuleForRepository" => assert!(
                matches!(
                    got,
                    Err(SigningError::Policy(PolicyError::NoRuleForRepository(_)))
                ),
                "{line}: {got:?}"
            ),
            other => panic!("unknown outcome {other}"),
        }
        assert_eq!(p.log_required(repo), log == "log", "{line}");
        n += 1;
    }
    assert_eq!(n, 5);

    // The `[[logs]]` table: the log of spec/transparency-log.md, whose worked checkpoint
    // it verifies.
    let log = p.log("registry.example/log").unwrap();
    let tl = include_str!("../transparency-log.md");
    let marker = "<!-- example: checkpoint -->\n```text\n";
    let start = tl.find(marker).unwrap() + marker.len();
    let note = &tl[start..start + tl[start..].find("```").unwrap()];
    assert_eq!(
        log.verifier.open(note.as_bytes()).unwrap().checkpoint.size,
        3
    );
    assert_eq!(log.url, None);
    assert!(p.log("other.example/log").is_none());
}

#[test]
fn policy_logs_refused() {
    let base = example("policy");
    let (head, logs) = base.split_at(base.find("[[logs]]").unwrap());
    let keys: Vec<&str> = logs
        .lines()
        .filter(|l| l.starts_with("  \""))
        .map(|l| l.trim().trim_end_matches(',').trim_matches('"'))
        .collect();
    let with = |t: &str| Policy::from_toml(&format!("{head}{t}"));
    let bad_log = |t: &str| {
        matches!(
            with(t),
            Err(SigningError::Policy(PolicyError::BadLog { .. }))
        )
    };
    // Ed25519 key only: the ML-DSA-44 key is required.
    assert!(bad_log(&format!(
        "[[logs]]\norigin = \"registry.example/log\"\nkeys = [\"{}\"]\n",
        keys[0]
    )));
    // A key named with another origin.
    assert!(bad_log(&format!(
        "[[logs]]\norigin = \"other.example/log\"\nkeys = [\"{}\"]\n",
        keys[1]
    )));
    // Not a verifier key; a quorum above the witnesses.
    assert!(bad_log(
        "[[logs]]\norigin = \"registry.example/log\"\nkeys = [\"nope\"]\n"
    ));
    assert!(bad_log(&format!(
        "[[logs]]\norigin = \"registry.example/log\"\nkeys = [\"{}\"]\nquorum = 1\n",
        keys[1]
    )));
    let one = format!(
        "[[logs]]\norigin = \"registry.example/log\"\nkeys = [\"{}\"]\n",
        keys[1]
    );
    assert!(with(&one).is_ok());
    assert!(bad_log(&format!("{one}url = \"ftp://x\"\n")));
    let mirrored = with(&format!("{one}url = \"https://mirror.example/log/\"\n")).unwrap();
    assert_eq!(
        mirrored.log("registry.example/log").unwrap().url.as_deref(),
        Some("https://mirror.example/log")
    );
    assert!(matches!(
        with(&format!("{one}\n{one}")),
        Err(SigningError::Policy(PolicyError::DuplicateLog(_)))
    ));
}

#[test]
fn exit_code_table() {
    let lines: Vec<String> = example("exit-codes").lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), ExitCode::ALL.len());
    for (line, code) in lines.iter().zip(ExitCode::ALL) {
        let mut it = line.splitn(3, ' ');
        assert_eq!(
            it.next().unwrap().parse::<u8>().unwrap(),
            code.code(),
            "{line}"
        );
        assert_eq!(it.next().unwrap(), code.name(), "{line}");
    }
}

#[test]
fn algorithm_table() {
    use pqreg_spec::keys::SignatureAlgorithm;
    use pqreg_spec::policy::{algorithm_name, algorithm_strength};
    let section = signing_util::SIGNING_MD
        .split("### 1.1 Algorithm names")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let mut n = 0;
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`');
        let alg = SignatureAlgorithm::from_name(name).unwrap();
        assert_eq!(algorithm_name(alg), name);
        assert_eq!(algorithm_strength(alg).to_string(), cells[3], "{row}");
        n += 1;
    }
    assert_eq!(n, 5);
}
