//! The worked examples of spec/artifact.md, parsed and checked against each other, and
//! one-change negatives of them.

use super::*;
use crate::Digest;
use crate::compress::{Header, Layout};
use crate::oci::{Descriptor, ImageManifest};

const SPEC: &str = include_str!("../../artifact.md");

/// The fenced block after `<!-- example: name -->`, without its final newline.
fn example(name: &str) -> &'static str {
    let marker = format!("<!-- example: {name} -->");
    let rest = &SPEC[SPEC.find(&marker).expect("marker") + marker.len()..];
    let start = rest.find("```").expect("fence") + 3;
    let rest = &rest[start..];
    let body = &rest[rest.find('\n').expect("fence line") + 1..];
    &body[..body.find("\n```").expect("closing fence")]
}

#[test]
fn examples_agree_with_each_other() {
    let manifest = example("manifest").as_bytes();
    let config = example("config").as_bytes();
    let index = example("index").as_bytes();

    let model = ModelManifest::from_json(manifest).unwrap();
    assert!(!model.encrypted);
    assert_eq!(model.config().digest, Digest::sha256(config));
    assert_eq!(model.config().size, config.len() as u64);

    let config = Config::from_json(config).unwrap();
    assert!(!config.is_encrypted());
    // The index is layer 0; the config names nothing of it (spec/artifact.md §4).
    assert_eq!(model.index_layer().digest, Digest::sha256(index));
    assert_eq!(model.index_layer().size, index.len() as u64);
    model.check_config(&config).unwrap();

    let index = Index::from_json(index).unwrap();
    model.check_index(&index).unwrap();
    assert_eq!(index.files.len(), 2);
    assert_eq!(index.files[1].chunks[1].layout, Layout::Bf16);
}

#[test]
fn examples_round_trip() {
    let c = Config::from_json(example("config").as_bytes()).unwrap();
    assert_eq!(Config::from_json(&c.to_json()).unwrap(), c);
    let i = Index::from_json(example("index").as_bytes()).unwrap();
    assert_eq!(Index::from_json(&i.to_json()).unwrap(), i);
    let m = ModelManifest::from_json(example("manifest").as_bytes()).unwrap();
    let again = ModelManifest::from_json(&m.manifest.to_json()).unwrap();
    assert_eq!(again, m);
}

#[test]
fn encrypted_config_example() {
    let c = Config::from_json(example("config-encrypted").as_bytes()).unwrap();
    assert!(c.is_encrypted());
    assert_eq!(c.algorithms, Algorithms::encrypted());
    assert_eq!(Config::from_json(&c.to_json()).unwrap(), c);
    // Same model, other mode: only algorithms and the envelope differ.
    let plain = Config::from_json(example("config").as_bytes()).unwrap();
    let mut stripped = c.clone();
    stripped.key_envelope = None;
    assert_eq!(variant(&stripped.validate().unwrap_err()), "EncryptionMode");
    stripped.algorithms = Algorithms::unencrypted();
    assert_eq!(stripped, plain);
}

#[test]
fn segment_header_example() {
    let hex: String = example("segment-header").split_whitespace().collect();
    let bytes = hex::decode(hex).unwrap();
    let h = Header {
        layout: Layout::Bf16,
        len: 1 << 20,
        zstd: vec![true, false],
        stored_len: vec![154_812, 524_288],
    };
    assert_eq!(h.encode(), bytes);
    let mut body = bytes.clone();
    body.resize(bytes.len() + 154_812 + 524_288, 0);
    assert_eq!(Header::parse(&body).unwrap(), h);
}

#[test]
fn build_matches_example() {
    let m = ModelManifest::from_json(example("manifest").as_bytes()).unwrap();
    let built = ModelManifest::build(
        example("config").as_bytes(),
        false,
        m.index_layer().clone(),
        m.chunk_layers().to_vec(),
        m.manifest.annotations.clone(),
    );
    assert_eq!(built, m);
}

fn variant(e: &FormatError) -> String {
    format!("{e:?}")
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Applies `from -> to` once to an example and expects error variant `want`.
fn expect_err(doc: &str, from: &str, to: &str, want: &str) {
    let src = example(doc);
    assert!(src.contains(from), "{doc}: {from:?} not in example");
    let bad = src.replacen(from, to, 1);
    let err = match doc {
        "config" => Config::from_json(bad.as_bytes()).unwrap_err(),
        "index" => Index::from_json(bad.as_bytes()).unwrap_err(),
        _ => ModelManifest::from_json(bad.as_bytes()).unwrap_err(),
    };
    assert_eq!(variant(&err), want, "{doc}: {from:?} -> {to:?}: {err}");
}

#[test]
fn config_negatives() {
    // Version 1 (chunk keys from plaintext digests, the index digest in the config) is
    // refused, as is a future version.
    for v in ["1", "3"] {
        expect_err(
            "config",
            "\"formatVersion\": 2",
            &format!("\"formatVersion\": {v}"),
            "FormatVersion",
        );
    }
    expect_err(
        "config",
        "\"formatVersion\": 2,",
        "\"formatVersion\": 2, \"extra\": true,",
        "UnknownField",
    );
    expect_err(
        "config",
        "\"formatVersion\": 2,",
        "\"formatVersion\": 2, \"formatVersion\": 1,",
        "DuplicateKey",
    );
    expect_err(
        "config",
        "\"none\",\n    \"kdf\"",
        "\"rot13\",\n    \"kdf\"",
        "UnsupportedAlgorithm",
    );
    expect_err("config", "1048576", "65536", "SegmentSize");
    expect_err(
        "config",
        "\"aead\": \"none\",\n    \"kdf\": \"none\"",
        "\"aead\": \"aes-256-gcm\",\n    \"kdf\": \"hkdf-sha256\"",
        "EncryptionMode",
    );
    expect_err("config", "\n}", "\n}\n{}", "TrailingData");
    expect_err(
        "config",
        ",\n  \"segmentSize\": 1048576",
        "",
        "MissingField",
    );
}

#[test]
fn index_negatives() {
    expect_err("index", "\"config.json\"", "\"../config.json\"", "BadPath");
    expect_err("index", "\"config.json\"", "\"/config.json\"", "BadPath");
    expect_err(
        "index",
        "\"config.json\"",
        "\"model.safetensors\"",
        "DuplicatePath",
    );
    expect_err(
        "index",
        "\"config.json\"",
        "\"MODEL.safetensors\"",
        "DuplicatePath",
    );
    expect_err(
        "index",
        "\"model.safetensors\"",
        "\"config.json/x\"",
        "PathConflict",
    );
    expect_err("index", "\"mode\": 420", "\"mode\": 511", "BadMode");
    expect_err(
        "index",
        "\"offset\": 1048584",
        "\"offset\": 1048583",
        "ChunkOverlap",
    );
    expect_err(
        "index",
        "\"offset\": 1048584",
        "\"offset\": 1048585",
        "ChunkGap",
    );
    expect_err(
        "index",
        "\"size\": 1234",
        "\"size\": 1235",
        "FileSizeMismatch",
    );
    expect_err("index", "\"length\": 1234", "\"length\": 0", "ChunkLength");
    expect_err(
        "index",
        "\"layerSize\": 562",
        "\"layerSize\": 2000",
        "LayerSize",
    );
    expect_err(
        "index",
        "\"layout\": \"bytes\"",
        "\"layout\": \"int4\"",
        "Schema",
    );
    expect_err(
        "index",
        "\"formatVersion\": 2",
        "\"formatVersion\": 2, \"x\": 0",
        "UnknownField",
    );
    expect_err("index", "\n}", "\n} x", "TrailingData");
}

#[test]
fn chunk_conflict_and_layer_mismatch() {
    let mut idx = Index::from_json(example("index").as_bytes()).unwrap();
    let first = idx.files[0].chunks[0].clone();
    idx.files[1].chunks[0].digest = first.digest;
    assert_eq!(variant(&idx.validate().unwrap_err()), "ChunkConflict");

    let m = ModelManifest::from_json(example("manifest").as_bytes()).unwrap();
    let mut idx = Index::from_json(example("index").as_bytes()).unwrap();
    idx.files[1].chunks[2].layer_size += 1;
    idx.validate().unwrap();
    assert_eq!(variant(&m.check_index(&idx).unwrap_err()), "LayerMismatch");
}

#[test]
fn manifest_negatives() {
    expect_err(
        "manifest",
        "\"application/vnd.pqreg.model.v1\"",
        "\"application/vnd.example.v1\"",
        "NotModelManifest",
    );
    expect_err(
        "manifest",
        "\"application/vnd.pqreg.index.v1+json\"",
        "\"application/vnd.pqreg.index.v1+json+aes256gcm\"",
        "NotModelManifest",
    );
    expect_err(
        "manifest",
        "\"schemaVersion\": 2",
        "\"schemaVersion\": 1",
        "SchemaVersion",
    );
    expect_err(
        "manifest",
        "\"size\": 172",
        "\"size\": -172",
        "NegativeSize",
    );
    let m = ModelManifest::from_json(example("manifest").as_bytes()).unwrap();
    // A chunk key in an unencrypted model's index is refused (and a keyless chunk in an
    // encrypted one's).
    let mut idx = Index::from_json(example("index").as_bytes()).unwrap();
    m.check_index(&idx).unwrap();
    idx.files[0].chunks[0].key = Some(crate::segment::ChunkKey::from_bytes(&[1; 32]));
    assert_eq!(variant(&m.check_index(&idx).unwrap_err()), "EncryptionMode");
    let mut dup: ImageManifest = m.manifest.clone();
    dup.layers.push(dup.layers[1].clone());
    assert_eq!(
        variant(&ModelManifest::from_manifest(dup).unwrap_err()),
        "NotModelManifest"
    );
    let _ = Descriptor::empty();
}

/// Checks `doc` against the parts of a JSON Schema the spec uses: `required`,
/// `additionalProperties: false`, `const`, `enum`, nested `properties` and `items`.
fn conforms(schema: &serde_json::Value, doc: &serde_json::Value, at: &str) {
    use serde_json::Value;
    if let Some(c) = schema.get("const") {
        assert_eq!(doc, c, "{at}: const");
    }
    if let Some(Value::Array(e)) = schema.get("enum") {
        assert!(e.contains(doc), "{at}: {doc} not in enum");
    }
    if let (Some(Value::Object(props)), Value::Object(obj)) = (schema.get("properties"), doc) {
        for r in schema["required"].as_array().into_iter().flatten() {
            assert!(obj.contains_key(r.as_str().unwrap()), "{at}: missing {r}");
        }
        for (k, v) in obj {
            match props.get(k) {
                Some(s) => conforms(s, v, &format!("{at}.{k}")),
                None => assert_ne!(
                    schema.get("additionalProperties"),
                    Some(&Value::Bool(false)),
                    "{at}: {k} not allowed"
                ),
            }
        }
    }
    if let (Some(items), Value::Array(a)) = (schema.get("items"), doc) {
        for (i, v) in a.iter().enumerate() {
            conforms(items, v, &format!("{at}[{i}]"));
        }
    }
}

#[test]
fn examples_conform_to_the_schemas() {
    for (schema, doc) in [("config-schema", "config"), ("index-schema", "index")] {
        let s: serde_json::Value = serde_json::from_str(example(schema)).unwrap();
        let d: serde_json::Value = serde_json::from_str(example(doc)).unwrap();
        conforms(&s, &d, doc);
        // And a document with an extra field does not.
        let mut extra = d.clone();
        extra["extra"] = serde_json::Value::Bool(true);
        let r = std::panic::catch_unwind(|| conforms(&s, &extra, doc));
        assert!(r.is_err(), "{schema} should refuse an extra field");
    }
}

#[test]
fn index_padding() {
    // Size padding (spec/encryption.md §6.5): a plausible one parses, and marks the index
    // padded; one that takes the sealed length over 2^30 is refused.
    let src = example("index");
    // Stored and padded: 1234 + 46 bytes in one record, 1280 + 22.
    let ok = src.replacen(
        "\"layerSize\": 562,",
        "\"layerSize\": 1302, \"padding\": 46,",
        1,
    );
    let index = Index::from_json(ok.as_bytes()).unwrap();
    assert!(index.is_padded());
    assert!(!Index::from_json(src.as_bytes()).unwrap().is_padded());
    expect_err(
        "index",
        "\"layerSize\": 562,",
        "\"layerSize\": 562, \"padding\": 1073741824,",
        "Padding",
    );
    // A padded chunk is stored: its layer is exactly the sealed length.
    expect_err(
        "index",
        "\"layerSize\": 562,",
        "\"layerSize\": 562, \"padding\": 46,",
        "LayerSize",
    );
}
