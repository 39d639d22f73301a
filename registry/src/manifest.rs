//! What the registry needs to know of a pushed manifest: the blobs and manifests it
//! references, its subject, and its descriptor for the referrers API.
//!
//! This reads JSON generically (any manifest-shaped object, OCI or Docker) so that the
//! registry stores what clients push; the typed model of pqreg's own artifacts lives in
//! `pqreg_spec::oci`.

use crate::digest::BlobDigest;
use serde_json::{Map, Value, json};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest v2 schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The manifest media types accepted on push: JSON documents that OCI distribution-spec
/// and Docker's registry API define as manifests. Anything else (e.g. `text/html`, which a
/// browser would render on the registry's origin) is refused.
pub const ACCEPTED: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// What a manifest is, decided by its media type alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An image manifest: `config` and `layers` blobs.
    Image,
    /// An index: `manifests` children.
    Index,
}

/// The references of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The media type (Content-Type, else the `mediaType` field).
    pub media_type: String,
    /// Blobs (config, layers) that must exist in the repository.
    pub blobs: Vec<BlobDigest>,
    /// Child manifests (of an index) that must exist in the repository.
    pub children: Vec<BlobDigest>,
    /// The `subject`'s digest.
    pub subject: Option<BlobDigest>,
    /// `artifactType`, else for an image manifest its config's media type.
    pub artifact_type: Option<String>,
    /// `annotations`.
    pub annotations: Option<Map<String, Value>>,
}

/// Parses a manifest body. `content_type` is the request's `Content-Type`, if any.
/// The error string says what is wrong (sent back as `MANIFEST_INVALID`'s detail).
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Parsed, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("manifest is not a JSON object")?;
    let field_type = match obj.get("mediaType") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err("mediaType is not a string".into()),
    };
    let content_type = content_type.map(|c| c.split(';').next().unwrap_or("").trim());
    let media_type = match (content_type, field_type) {
        (Some(c), Some(f)) if !c.is_empty() && c != f => {
            return Err(format!("Content-Type {c} does not match mediaType {f}"));
        }
        (Some(c), _) if !c.is_empty() => c.to_owned(),
        (_, Some(f)) => f.to_owned(),
        _ => return Err("no Content-Type and no mediaType".into()),
    };
    // The kind comes from the media type only: an object that looks like both (an image
    // manifest with a `manifests` key, say) would otherwise skip one of the checks.
    let kind = match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => Kind::Image,
        OCI_INDEX | DOCKER_LIST => Kind::Index,
        other => {
            return Err(format!(
                "media type {other:?} is not a manifest type this registry accepts ({})",
                ACCEPTED.join(", ")
            ));
        }
    };
    if obj.contains_key("manifests") && (obj.contains_key("layers") || obj.contains_key("config")) {
        return Err(
            "the object is both an image manifest (config, layers) and an index \
                    (manifests)"
                .into(),
        );
    }
    // Descriptors may name SHA-256 or SHA-512 digests (distribution-spec v1.1).
    let descriptor = |d: &Value, what: &str| -> Result<(BlobDigest, String), String> {
        let o = d.as_object().ok_or(format!("{what} is not a descriptor"))?;
        let digest = o
            .get("digest")
            .and_then(Value::as_str)
            .ok_or(format!("{what} has no digest"))?
            .parse::<BlobDigest>()
            .map_err(|e| format!("{what}: {e}"))?;
        if !o.get("size").is_some_and(Value::is_u64) {
            return Err(format!("{what} has no valid size"));
        }
        let mt = o
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok((digest, mt))
    };
    let mut blobs = Vec::new();
    let mut children = Vec::new();
    let mut config_type = None;
    if kind == Kind::Index {
        let list = obj
            .get("manifests")
            .and_then(Value::as_array)
            .ok_or("index has no manifests array")?;
        for (i, m) in list.iter().enumerate() {
            children.push(descriptor(m, &format!("manifests[{i}]"))?.0);
        }
    } else {
        let (d, mt) = descriptor(obj.get("config").ok_or("manifest has no config")?, "config")?;
        blobs.push(d);
        config_type = Some(mt);
        let layers = obj
            .get("layers")
            .and_then(Value::as_array)
            .ok_or("manifest has no layers array")?;
        for (i, l) in layers.iter().enumerate() {
            let (d, mt) = descriptor(l, &format!("layers[{i}]"))?;
            // Foreign (non-distributable) layers live elsewhere by design.
            if !mt.contains("nondistributable") && !mt.contains("foreign") {
                blobs.push(d);
            }
        }
    }
    let subject = match obj.get("subject") {
        None | Some(Value::Null) => None,
        Some(s) => Some(descriptor(s, "subject")?.0),
    };
    let artifact_type = match obj.get("artifactType") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("artifactType is not a string".into()),
        None => config_type.filter(|c| !c.is_empty()),
    };
    let annotations = match obj.get("annotations") {
        None => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => return Err("annotations is not an object".into()),
    };
    Ok(Parsed {
        media_type,
        blobs,
        children,
        subject,
        artifact_type,
        annotations,
    })
}

impl Parsed {
    /// The descriptor listed for this manifest by the referrers API.
    pub fn referrer_descriptor(&self, digest: &BlobDigest, size: u64) -> Value {
        let mut d = json!({
            "mediaType": self.media_type,
            "digest": digest.to_string(),
            "size": size,
        });
        if let Some(a) = &self.artifact_type {
            d["artifactType"] = Value::String(a.clone());
        }
        if let Some(a) = &self.annotations {
            d["annotations"] = Value::Object(a.clone());
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pqreg_spec::Digest;

    fn sha(data: &[u8]) -> BlobDigest {
        Digest::sha256(data).into()
    }

    fn desc(data: &[u8], mt: &str) -> Value {
        json!({"mediaType": mt, "digest": Digest::sha256(data).to_string(), "size": data.len()})
    }

    #[test]
    fn image_manifest_with_subject() {
        let m = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": desc(b"{}", "application/x.cfg"),
            "layers": [desc(b"a", "application/x.l")],
            "subject": desc(b"s", OCI_MANIFEST),
            "annotations": {"k": "v"},
        });
        let p = parse(m.to_string().as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(p.blobs, vec![sha(b"{}"), sha(b"a")]);
        assert_eq!(p.subject, Some(sha(b"s")));
        assert_eq!(p.artifact_type.as_deref(), Some("application/x.cfg"));
        let d = p.referrer_descriptor(&sha(b"m"), 5);
        assert_eq!(d["annotations"]["k"], "v");
    }

    #[test]
    fn index_and_errors() {
        let i = json!({"schemaVersion": 2, "manifests": [desc(b"c", OCI_MANIFEST)], "artifactType": "x/y"});
        let p = parse(i.to_string().as_bytes(), Some(OCI_INDEX)).unwrap();
        assert_eq!(p.children, vec![sha(b"c")]);
        assert_eq!(p.artifact_type.as_deref(), Some("x/y"));
        assert!(parse(b"[]", Some(OCI_MANIFEST)).is_err());
        assert!(parse(b"{", Some(OCI_MANIFEST)).is_err());
        assert!(parse(b"{}", None).is_err());
        let bad = json!({"mediaType": OCI_INDEX, "manifests": []});
        assert!(parse(bad.to_string().as_bytes(), Some(OCI_MANIFEST)).is_err());
        let bad = json!({"config": {"digest": "sha256:00", "size": 1}, "layers": []});
        assert!(parse(bad.to_string().as_bytes(), Some(OCI_MANIFEST)).is_err());
    }

    /// Only the four JSON manifest types are accepted, from `Content-Type` or `mediaType`.
    #[test]
    fn media_types() {
        let m = json!({"schemaVersion": 2, "config": desc(b"{}", "x/c"), "layers": []});
        let text = m.to_string();
        for mt in [OCI_MANIFEST, DOCKER_MANIFEST] {
            parse(text.as_bytes(), Some(mt)).unwrap();
        }
        for mt in [
            "text/html",
            "application/json",
            "text/html; charset=utf-8",
            "image/svg+xml",
        ] {
            let e = parse(text.as_bytes(), Some(mt)).unwrap_err();
            assert!(e.contains("not a manifest type"), "{mt}: {e}");
        }
        let field = json!({"schemaVersion": 2, "mediaType": "text/html", "manifests": []});
        assert!(parse(field.to_string().as_bytes(), None).is_err());
    }

    /// An object with both image and index keys is refused, whatever its media type.
    #[test]
    fn both_kinds_refused() {
        let m = json!({
            "schemaVersion": 2, "config": desc(b"{}", "x/c"),
            "layers": [desc(b"a", "x/l")], "manifests": [],
        });
        for mt in [OCI_MANIFEST, OCI_INDEX] {
            let e = parse(m.to_string().as_bytes(), Some(mt)).unwrap_err();
            assert!(e.contains("both"), "{e}");
        }
    }
}
