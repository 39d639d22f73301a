//! The statement: builders for `files` and `shards`, the OMS root digest, the manifest
//! binding, comparisons with the content, and strict parsing (one error per failure).

use pqreg_spec::Digest;
use pqreg_spec::dsse::SigningError;
use pqreg_spec::statement::{
    FileEntry, Method, Resource, ShardedFile, Statement, StatementError, root_digest, shard_ranges,
};

fn st_err(e: SigningError) -> StatementError {
    match e {
        SigningError::Statement(s) => s,
        other => panic!("expected a statement error, got {other:?}"),
    }
}

fn file(path: &str, content: &[u8]) -> FileEntry {
    FileEntry {
        path: path.into(),
        digest: Digest::sha256(content),
        size: content.len() as u64,
    }
}

fn files() -> Vec<FileEntry> {
    vec![
        file("model.safetensors", b"abc"),
        file("config.json", b"{}"),
        file("a/b.txt", b""),
    ]
}

fn manifest() -> Digest {
    Digest::sha256(b"manifest")
}

#[test]
fn files_statement_round_trip() {
    let s = Statement::from_files("m", &files(), Some(manifest())).unwrap();
    let names: Vec<_> = s.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a/b.txt", "config.json", "model.safetensors"]);
    let mut raw = Vec::new();
    for r in &s.resources {
        raw.extend_from_slice(r.digest.as_bytes());
    }
    assert_eq!(s.subject_digest(), Digest::sha256(&raw));
    let parsed = Statement::from_json(&s.to_json()).unwrap();
    assert_eq!(parsed, s);
    parsed.check_manifest(&manifest()).unwrap();
    parsed.check_files(&files()).unwrap();
}

#[test]
fn shards() {
    assert_eq!(shard_ranges(0, 10).count(), 0);
    assert_eq!(
        shard_ranges(25, 10).collect::<Vec<_>>(),
        [(0, 10), (10, 20), (20, 25)]
    );
    assert_eq!(
        shard_ranges(20, 10).collect::<Vec<_>>(),
        [(0, 10), (10, 20)]
    );
    let data: Vec<u8> = (0..=255u8).cycle().take(2500).collect();
    let sharded = |size: usize| ShardedFile {
        path: "w:eird.bin".into(),
        size: size as u64,
        shard_digests: shard_ranges(size as u64, 1000)
            .map(|(a, b)| Digest::sha256(&data[a as usize..b as usize]))
            .collect(),
    };
    let f = sharded(2500);
    let empty = ShardedFile {
        path: "empty".into(),
        size: 0,
        shard_digests: vec![],
    };
    let s = Statement::from_shards("m", 1000, &[f.clone(), empty.clone()], None).unwrap();
    assert_eq!(s.method, Method::Shards { shard_size: 1000 });
    let names: Vec<_> = s.resources.iter().map(|r| r.name.as_str()).collect();
    // Sorted as strings, as OMS requires (colons in the path are fine).
    assert_eq!(
        names,
        [
            "w:eird.bin:0:1000",
            "w:eird.bin:1000:2000",
            "w:eird.bin:2000:2500"
        ]
    );
    let parsed = Statement::from_json(&s.to_json()).unwrap();
    assert_eq!(parsed, s);
    parsed.check_shards(&[f.clone(), empty]).unwrap();
    assert!(matches!(
        st_err(parsed.check_files(&[]).unwrap_err()),
        StatementError::MethodMismatch("files")
    ));
    // Wrong number of shard digests for the size.
    let mut short = f.clone();
    short.shard_digests.pop();
    assert!(matches!(
        st_err(Statement::from_shards("m", 1000, &[short], None).unwrap_err()),
        StatementError::BadShards(_)
    ));
    // A gap in the tiling is refused when parsing.
    let text = String::from_utf8(s.to_json()).unwrap();
    let gap = Statement {
        resources: vec![
            Resource {
                name: "x:0:1000".into(),
                digest: Digest::sha256(b"1"),
            },
            Resource {
                name: "x:2000:2500".into(),
                digest: Digest::sha256(b"2"),
            },
        ],
        ..parsed.clone()
    };
    assert!(matches!(
        st_err(Statement::from_json(&gap.to_json()).unwrap_err()),
        StatementError::BadShards(_)
    ));
    assert!(text.contains("\"shard_size\":1000"));
}

#[test]
fn content_comparisons() {
    let s = Statement::from_files("m", &files(), Some(manifest())).unwrap();
    let mut fs = files();
    fs.pop();
    assert!(matches!(
        st_err(s.check_files(&fs).unwrap_err()),
        StatementError::MissingResource(ref n) if n == "a/b.txt"
    ));
    let mut fs = files();
    fs.push(file("extra.bin", b"x"));
    assert!(matches!(
        st_err(s.check_files(&fs).unwrap_err()),
        StatementError::UnsignedResource(ref n) if n == "extra.bin"
    ));
    let mut fs = files();
    fs[0].digest = Digest::sha256(b"abd");
    assert!(matches!(
        st_err(s.check_files(&fs).unwrap_err()),
        StatementError::ResourceDigestMismatch { ref name, .. } if name == "model.safetensors"
    ));
    assert!(matches!(
        st_err(s.check_manifest(&Digest::sha256(b"other")).unwrap_err()),
        StatementError::ManifestMismatch { .. }
    ));
    let unbound = Statement::from_files("m", &files(), None).unwrap();
    assert!(matches!(
        st_err(unbound.check_manifest(&manifest()).unwrap_err()),
        StatementError::ManifestMissing
    ));
    assert!(
        !String::from_utf8(unbound.to_json())
            .unwrap()
            .contains("annotations")
    );
}

#[test]
fn builder_refuses_bad_input() {
    for bad in ["", "/abs", "a/../b", "./a", "a//b", "a/", "a\\b", ".."] {
        let err = st_err(Statement::from_files("m", &[file(bad, b"")], None).unwrap_err());
        assert!(
            matches!(err, StatementError::BadResourceName(_)),
            "{bad:?}: {err:?}"
        );
    }
    let err =
        st_err(Statement::from_files("m", &[file("a", b"1"), file("a", b"2")], None).unwrap_err());
    assert!(
        matches!(err, StatementError::DuplicateResource(_)),
        "{err:?}"
    );
    assert!(matches!(
        st_err(Statement::from_files("m", &[], None).unwrap_err()),
        StatementError::NoResources
    ));
    assert!(matches!(
        st_err(Statement::from_files("", &files(), None).unwrap_err()),
        StatementError::BadSubjectName
    ));
}

fn edit(f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let s = Statement::from_files("m", &files(), Some(manifest())).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn parse_refuses_each_defect() {
    use serde_json::json;
    let cases: Vec<(Vec<u8>, fn(&StatementError) -> bool)> = vec![
        (
            edit(|v| v["_type"] = json!("https://in-toto.io/Statement/v0.1")),
            |e| matches!(e, StatementError::WrongStatementType(_)),
        ),
        (
            edit(|v| v["predicateType"] = json!("https://slsa.dev/provenance/v1")),
            |e| matches!(e, StatementError::WrongPredicateType(_)),
        ),
        (
            edit(|v| {
                let s = v["subject"][0].clone();
                v["subject"].as_array_mut().unwrap().push(s)
            }),
            |e| matches!(e, StatementError::SubjectCount(2)),
        ),
        (
            edit(|v| v["subject"][0]["digest"]["sha256"] = json!("00".repeat(32))),
            |e| matches!(e, StatementError::SubjectMismatch { .. }),
        ),
        (
            edit(|v| v["predicate"]["resources"][0]["algorithm"] = json!("blake2b")),
            |e| matches!(e, StatementError::UnsupportedHash(_)),
        ),
        (
            edit(|v| v["predicate"]["serialization"]["hash_type"] = json!("blake3")),
            |e| matches!(e, StatementError::UnsupportedHash(_)),
        ),
        (
            edit(|v| v["predicate"]["serialization"]["method"] = json!("shards")),
            |e| matches!(e, StatementError::BadSerialization(_)),
        ),
        (
            edit(|v| v["predicate"]["serialization"]["shard_size"] = json!(5)),
            |e| matches!(e, StatementError::BadSerialization(_)),
        ),
        (
            edit(|v| {
                v["predicate"]["resources"]
                    .as_array_mut()
                    .unwrap()
                    .swap(0, 1)
            }),
            |e| matches!(e, StatementError::Unsorted(_)),
        ),
        (
            edit(|v| v["predicate"]["resources"][1]["name"] = json!("a/b.txt")),
            |e| matches!(e, StatementError::DuplicateResource(_)),
        ),
        (
            edit(|v| v["predicate"]["resources"][0]["name"] = json!("../a")),
            |e| matches!(e, StatementError::BadResourceName(_)),
        ),
        (
            edit(|v| v["predicate"]["resources"][0]["digest"] = json!("ABC")),
            |e| matches!(e, StatementError::BadDigest(_)),
        ),
        (edit(|v| v["predicate"]["resources"] = json!([])), |e| {
            matches!(e, StatementError::NoResources)
        }),
        (edit(|v| v["predicate"]["extra"] = json!(1)), |e| {
            matches!(e, StatementError::Json(_))
        }),
        (
            edit(|v| v["subject"][0]["annotations"]["other"] = json!("x")),
            |e| matches!(e, StatementError::Json(_)),
        ),
        (
            edit(|v| v["subject"][0]["annotations"]["dev.pqreg.oci-manifest"] = json!("sha512:00")),
            |e| matches!(e, StatementError::Json(_)),
        ),
    ];
    for (i, (json, want)) in cases.into_iter().enumerate() {
        let err = st_err(Statement::from_json(&json).unwrap_err());
        assert!(want(&err), "case {i}: {err:?}");
    }
    // Duplicate top-level field and trailing garbage.
    let good = String::from_utf8(edit(|_| {})).unwrap();
    for bad in [
        good.replacen("{", "{\"_type\":\"https://in-toto.io/Statement/v1\",", 1),
        format!("{good}]"),
    ] {
        assert!(matches!(
            st_err(Statement::from_json(bad.as_bytes()).unwrap_err()),
            StatementError::Json(_)
        ));
    }
    assert_eq!(
        root_digest(&[]),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .unwrap()
    );
}
