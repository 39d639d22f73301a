//! Runs every `testdata/artifact_*.json` and `testdata/oci_*.json` vector through the
//! public API and checks the expected outcome (`ok` or the `FormatError` variant).
#![allow(clippy::unwrap_used)] // a test: a panic is the failure report

use std::path::Path;

use pqreg_spec::artifact::{Config, Index};
use pqreg_spec::oci::{self, FormatError};

fn variant(e: &FormatError) -> String {
    format!("{e:?}")
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn vectors(prefix: &str) -> Vec<(String, serde_json::Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(".json")
        })
        .map(|p| {
            let v = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn check(name: &str, expect: &str, got: Result<(), FormatError>) {
    match (got, expect) {
        (Ok(()), "ok") => {}
        (Err(e), want) => assert_eq!(variant(&e), want, "{name}: {e}"),
        (Ok(()), want) => panic!("{name}: accepted, expected {want}"),
    }
}

#[test]
fn artifact_vectors() {
    let all = vectors("artifact_");
    assert!(all.len() >= 10, "vectors missing: {}", all.len());
    for (name, v) in all {
        let doc = v["document"].as_str().unwrap().as_bytes();
        let got = match v["document_type"].as_str().unwrap() {
            "config" => Config::from_json(doc).map(drop),
            "index" => Index::from_json(doc).map(drop),
            other => panic!("{name}: unknown document_type {other}"),
        };
        check(&name, v["expect"].as_str().unwrap(), got);
    }
}

#[test]
fn oci_vectors() {
    let all = vectors("oci_");
    assert!(all.len() >= 10, "vectors missing: {}", all.len());
    for (name, v) in all {
        let doc = v["document"].as_str().unwrap().as_bytes();
        assert_eq!(
            oci::digest_of(doc).to_string(),
            v["digest"].as_str().unwrap(),
            "{name}"
        );
        let got = oci::references(doc, v["mediaType"].as_str().unwrap()).map(drop);
        check(&name, v["expect"].as_str().unwrap(), got);
    }
}
