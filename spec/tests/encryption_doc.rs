//! The worked examples of spec/encryption.md, checked against the code so the document
//! cannot drift.

// Test helpers panic on bad fixtures by design; clippy.toml only exempts #[test] fns.
#![allow(clippy::unwrap_used)]

use pqreg_spec::envelope::{ContentSecret, KeyEnvelope};
use pqreg_spec::keys::{KemAlgorithm, RecipientPrivateKey};
use pqreg_spec::segment::{ChunkKey, open, seal};

const DOC: &str = include_str!("../encryption.md");

/// The fenced block after `<!-- example: name -->`.
fn example(name: &str) -> &'static str {
    let marker = format!("<!-- example: {name} -->");
    let at = DOC.find(&marker).unwrap() + marker.len();
    let rest = &DOC[at..];
    let open = rest.find("```").unwrap();
    let body = &rest[open + 3..];
    let body = &body[body.find('\n').unwrap() + 1..];
    &body[..body.find("```").unwrap()]
}

/// `name: value` lines of a text block.
fn value(block: &str, name: &str) -> String {
    block
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap()
        .trim()
        .to_owned()
}

fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

#[test]
fn keys_example() {
    let b = example("keys");
    let secret = ContentSecret::from_bytes(&hex32(&value(b, "content secret")));
    assert_eq!(
        hex::encode(ChunkKey::index_key(&secret).as_bytes()),
        value(b, "index key")
    );
    assert_eq!(hex::encode(secret.commitment()), value(b, "commitment"));
    // The labels table of §5.1 names the constants the code uses, with their lengths.
    for (label, len) in [
        (pqreg_spec::segment::CONTENT_SALT, 16),
        (pqreg_spec::segment::INDEX_KEY_INFO, 18),
        (pqreg_spec::envelope::COMMITMENT_INFO, 26),
        (pqreg_spec::envelope::HPKE_INFO, 17),
    ] {
        let text = std::str::from_utf8(label).unwrap();
        assert_eq!(label.len(), len, "{text}");
        assert!(
            DOC.contains(&format!("| `{text}` | {len} |")),
            "label {text} ({len} bytes) is not in the table of §5.1"
        );
    }
}

#[test]
fn segment_example() {
    let b = example("segment");
    let key = ChunkKey::from_bytes(&hex32(&value(example("keys"), "chunk key")));
    let plaintext = hex::decode(value(b, "plaintext")).unwrap();
    assert_eq!(plaintext, b"pqreg worked example\n");
    let sealed = hex::decode(value(b, "sealed chunk")).unwrap();
    assert_eq!(seal(&key, &plaintext), sealed);
    assert_eq!(open(&key, &sealed).unwrap(), plaintext);
}

#[test]
fn padme_example() {
    let b = example("padme");
    let mut rows = 0;
    for line in b.lines().skip(1) {
        let v: Vec<u64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(v.len(), 3, "{line}");
        assert_eq!(pqreg_spec::segment::padme(v[0]), v[1], "padme({})", v[0]);
        assert_eq!(v[1] - v[0], v[2], "{line}");
        rows += 1;
    }
    assert!(rows >= 8);
}

#[test]
fn padded_segment_example() {
    let b = example("padded-segment");
    let key = ChunkKey::from_bytes(&hex32(&value(example("keys"), "chunk key")));
    let plaintext = hex::decode(value(b, "plaintext")).unwrap();
    assert_eq!(plaintext, b"pqreg worked example\n");
    let padding: usize = value(b, "padding").parse().unwrap();
    assert_eq!(
        pqreg_spec::segment::padme(plaintext.len() as u64),
        (plaintext.len() + padding) as u64
    );
    let mut padded = plaintext.clone();
    padded.resize(plaintext.len() + padding, 0);
    let sealed = hex::decode(value(b, "sealed padded chunk")).unwrap();
    assert_eq!(seal(&key, &padded), sealed);
    assert_eq!(open(&key, &sealed).unwrap(), padded);
    // The header's body_len is the padded length: 22 = 0x16.
    assert_eq!(sealed[..6], [0x00, 0x01, 0x00, 0x00, 0x00, 0x16]);
}

#[test]
fn envelope_example_opens() {
    let env = KeyEnvelope::from_json(example("envelope").as_bytes()).unwrap();
    let seed =
        hex::decode("dd88d51c574c203e6b7353293fb9d7fe34d2d9546c0a1bef3c07210924d1b606").unwrap();
    assert!(DOC.contains("dd88d51c574c203e6b7353293fb9d7fe34d2d9546c0a1bef3c07210924d1b606"));
    let identity = RecipientPrivateKey::from_seed(KemAlgorithm::XWing, &seed).unwrap();
    // The entry is listed under this identity's key ID (no fallback needed).
    assert_eq!(
        env.key_ids().collect::<Vec<_>>(),
        vec![&identity.key_id().unwrap()]
    );
    let secret = env.open(&identity).unwrap();
    let want = value(example("keys"), "content secret");
    assert_eq!(hex::encode(secret.as_bytes()), want);
    assert_eq!(
        hex::encode(env.commitment()),
        value(example("keys"), "commitment")
    );
    // The entry carries the recipient's public key.
    assert_eq!(env.public_keys(), vec![identity.public_key().unwrap()]);
    // Re-encoding gives the same document (modulo whitespace).
    let reparsed: serde_json::Value = serde_json::from_slice(&env.to_json()).unwrap();
    let doc: serde_json::Value = serde_json::from_str(example("envelope")).unwrap();
    assert_eq!(reparsed, doc);
}

#[test]
fn envelope_schema_matches_the_format() {
    let schema: serde_json::Value = serde_json::from_str(example("envelope-schema")).unwrap();
    let example: serde_json::Value = serde_json::from_str(example("envelope")).unwrap();
    // Every field of the example is one the schema requires, and the reverse.
    let top: Vec<&String> = example.as_object().unwrap().keys().collect();
    let mut required: Vec<String> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    required.sort();
    assert_eq!(top, required.iter().collect::<Vec<_>>());
    let entry: Vec<&String> = example["recipients"][0]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let mut req: Vec<String> = schema["properties"]["recipients"]["items"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    req.sort();
    assert_eq!(entry, req.iter().collect::<Vec<_>>());
    assert_eq!(schema["properties"]["version"]["const"], 2);
    assert_eq!(schema["properties"]["recipients"]["maxItems"], 1024);
}
