use super::*;

/// One `testdata/oci_*.json` vector: a document, the media type it is pushed as, and the
/// expected outcome (`ok` or the `FormatError` variant name).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vector {
    media_type: String,
    expect: String,
    digest: Digest,
    document: String,
}

const VECTORS: &[(&str, &str)] = &[
    (
        "oci_docker_manifest_v2",
        include_str!("../../../testdata/oci_docker_manifest_v2.json"),
    ),
    (
        "oci_docker_manifest_list",
        include_str!("../../../testdata/oci_docker_manifest_list.json"),
    ),
    (
        "oci_image_manifest_example",
        include_str!("../../../testdata/oci_image_manifest_example.json"),
    ),
    (
        "oci_image_index_example",
        include_str!("../../../testdata/oci_image_index_example.json"),
    ),
    (
        "oci_ok_unknown_fields",
        include_str!("../../../testdata/oci_ok_unknown_fields.json"),
    ),
    (
        "oci_bad_schema_version1",
        include_str!("../../../testdata/oci_bad_schema_version1.json"),
    ),
    (
        "oci_bad_digest",
        include_str!("../../../testdata/oci_bad_digest.json"),
    ),
    (
        "oci_bad_negative_size",
        include_str!("../../../testdata/oci_bad_negative_size.json"),
    ),
    (
        "oci_bad_oversized_size",
        include_str!("../../../testdata/oci_bad_oversized_size.json"),
    ),
    (
        "oci_bad_duplicate_key",
        include_str!("../../../testdata/oci_bad_duplicate_key.json"),
    ),
    (
        "oci_bad_trailing",
        include_str!("../../../testdata/oci_bad_trailing.json"),
    ),
    (
        "oci_bad_media_type_mismatch",
        include_str!("../../../testdata/oci_bad_media_type_mismatch.json"),
    ),
];

fn variant_name(e: &FormatError) -> String {
    let dbg = format!("{e:?}");
    dbg.split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn vectors() {
    for (name, text) in VECTORS {
        let v: Vector = serde_json::from_str(text).unwrap();
        let bytes = v.document.as_bytes();
        assert_eq!(digest_of(bytes), v.digest, "{name}: vector digest");
        let got = references(bytes, &v.media_type);
        match (&got, v.expect.as_str()) {
            (Ok(refs), "ok") => {
                assert_eq!(refs.digest, v.digest, "{name}");
                assert_eq!(refs.size, bytes.len() as u64, "{name}");
            }
            (Err(e), want) => assert_eq!(variant_name(e), want, "{name}: {e}"),
            (Ok(_), want) => panic!("{name}: accepted, expected {want}"),
        }
    }
}

#[test]
fn docker_manifest_refs() {
    let v: Vector = serde_json::from_str(VECTORS[0].1).unwrap();
    let refs = references(v.document.as_bytes(), media_types::DOCKER_MANIFEST).unwrap();
    assert_eq!(refs.kind, ManifestKind::DockerManifest);
    assert_eq!(refs.layers.len(), 4);
    assert_eq!(refs.blobs().count(), 5);
    assert_eq!(refs.layers[3].size, 465);
    assert_eq!(
        refs.effective_artifact_type(),
        Some("application/octet-stream")
    );
    assert!(refs.subject.is_none() && refs.manifests.is_empty());
    // A Docker manifest must say what it is.
    let no_mt = v.document.replace(
        "\"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",",
        "",
    );
    assert_eq!(
        references(no_mt.as_bytes(), media_types::DOCKER_MANIFEST).unwrap_err(),
        FormatError::MissingField("mediaType".into())
    );
}

#[test]
fn index_refs_and_platforms() {
    let v: Vector = serde_json::from_str(VECTORS[1].1).unwrap();
    let refs = references(v.document.as_bytes(), media_types::DOCKER_MANIFEST_LIST).unwrap();
    assert_eq!(refs.manifests.len(), 5);
    assert_eq!(refs.blobs().count(), 0);
    let p = refs.manifests[1].platform.as_ref().unwrap();
    assert_eq!(p.architecture, "amd64");
    assert_eq!(p.features.as_deref(), Some(&["sse".to_owned()][..]));
    let v: Vector = serde_json::from_str(VECTORS[3].1).unwrap();
    let idx = ImageIndex::from_json(v.document.as_bytes()).unwrap();
    assert_eq!(idx.manifests[1].size, 7682);
    // The same bytes pushed as a manifest are refused.
    assert!(ImageManifest::from_json(v.document.as_bytes()).is_err());
}

fn artifact_manifest() -> ImageManifest {
    ImageManifest {
        schema_version: 2,
        media_type: Some(media_types::OCI_MANIFEST.into()),
        artifact_type: Some("application/vnd.example.sbom.v1".into()),
        config: Descriptor::empty(),
        layers: vec![Descriptor::of("text/spdx+json", b"sbom")],
        subject: Some(Descriptor::of(media_types::OCI_MANIFEST, b"subject")),
        annotations: Some([("org.example.k".into(), "v".into())].into()),
    }
}

#[test]
fn artifact_with_subject_round_trips() {
    let m = artifact_manifest();
    let bytes = m.to_json();
    assert_eq!(ImageManifest::from_json(&bytes).unwrap(), m);
    let refs = references(&bytes, media_types::OCI_MANIFEST).unwrap();
    assert_eq!(refs.subject, m.subject);
    assert_eq!(
        refs.effective_artifact_type(),
        Some("application/vnd.example.sbom.v1")
    );
    assert_eq!(refs.digest, digest_of(&bytes));
    assert_eq!(sniff_media_type(&bytes), Some(media_types::OCI_MANIFEST));
    let with_param = format!("{}; charset=utf-8", media_types::OCI_MANIFEST);
    assert_eq!(references(&bytes, &with_param).unwrap(), refs);
}

#[test]
fn empty_descriptor_is_the_spec_one() {
    let e = Descriptor::empty();
    // image-spec v1.1 manifest.md, "Guidance for an Empty Descriptor".
    assert_eq!(
        e.digest.to_string(),
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
    assert_eq!(e.size, 2);
    assert!(e.is_empty_descriptor());
}

#[test]
fn empty_config_needs_artifact_type() {
    let mut m = artifact_manifest();
    m.artifact_type = None;
    assert_eq!(
        ImageManifest::from_json(&m.to_json()).unwrap_err(),
        FormatError::MissingArtifactType
    );
}

#[test]
fn embedded_data_is_checked() {
    let mut m = artifact_manifest();
    m.config.data = Some("e30K".into()); // "{}\n"
    assert_eq!(
        ImageManifest::from_json(&m.to_json()).unwrap_err(),
        FormatError::EmbeddedDataMismatch
    );
    m.config.data = Some("e3!=".into());
    assert_eq!(
        ImageManifest::from_json(&m.to_json()).unwrap_err(),
        FormatError::BadEmbeddedData
    );
}

#[test]
fn rejects_bad_fields() {
    let good = String::from_utf8(artifact_manifest().to_json()).unwrap();
    let cases: &[(&str, &str, FormatError)] = &[
        (
            "\"size\":4}",
            "\"size\":4.0}",
            FormatError::SizeOutOfRange("4.0".into()),
        ),
        (
            "\"mediaType\":\"text/spdx+json\"",
            "\"mediaType\":\"text/spdx json\"",
            FormatError::BadMediaType("text/spdx json".into()),
        ),
        (
            "\"schemaVersion\":2",
            "\"schemaVersion\":\"2\"",
            FormatError::SchemaVersion("2".into()),
        ),
        (
            "\"schemaVersion\":2,",
            "\"schemaVersion\":2,\"manifests\":[],",
            FormatError::Ambiguous("image manifest has a manifests field"),
        ),
    ];
    for (from, to, want) in cases {
        assert!(good.contains(from), "{from}");
        let bad = good.replacen(from, to, 1);
        let got = ImageManifest::from_json(bad.as_bytes());
        // "schemaVersion":"2" is a string: serde refuses the type before our check runs.
        if *to == "\"schemaVersion\":\"2\"" {
            assert!(matches!(got, Err(FormatError::Schema(_))), "{got:?}");
        } else {
            assert_eq!(got.unwrap_err(), *want, "{to}");
        }
    }
}

#[test]
fn unsupported_media_type_and_sniffing() {
    assert!(matches!(
        references(b"{}", "application/vnd.oci.artifact.manifest.v1+json"),
        Err(FormatError::UnsupportedMediaType(_))
    ));
    assert_eq!(
        sniff_media_type(br#"{"schemaVersion":2,"manifests":[]}"#),
        Some(media_types::OCI_INDEX)
    );
    assert_eq!(sniff_media_type(b"[]"), None);
}

#[test]
fn media_type_grammar() {
    for ok in [
        "application/vnd.oci.image.manifest.v1+json",
        "text/spdx+json",
        "a/b",
    ] {
        check_media_type(ok).unwrap();
    }
    for bad in [
        "",
        "application",
        "application/",
        "/json",
        "application/json; charset=utf-8",
        "application/.json",
        "a/b/c",
    ] {
        assert!(check_media_type(bad).is_err(), "{bad:?}");
    }
}
