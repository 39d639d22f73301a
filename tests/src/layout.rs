//! Writes a small OCI image layout (image-spec v1.1 `image-layout.md`) at test time:
//! `oci-layout`, `index.json` and `blobs/sha256/<hex>` for a config, two uncompressed tar
//! layers and the manifest, tagged through `org.opencontainers.image.ref.name`. Content is
//! deterministic from a seed, so digests are reproducible.

use std::path::Path;

use serde_json::json;

use crate::oci::{Desc, MT_CONFIG, MT_LAYER, MT_MANIFEST, Rng, image_manifest, sha256};

/// What was written.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The manifest's digest.
    pub manifest_digest: String,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// Digests of the config and every layer.
    pub blobs: Vec<String>,
}

/// A one-file ustar archive (POSIX.1-1988 header, 512-byte blocks, two zero blocks at the end).
pub fn tar_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn write_blob(dir: &Path, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let hex = digest.trim_start_matches("sha256:");
    std::fs::write(dir.join("blobs/sha256").join(hex), bytes).expect("write blob");
    digest
}

/// Writes the layout into `dir` (created if needed) with the manifest tagged `tag`.
pub fn write_image_layout(dir: &Path, tag: &str, seed: u64) -> Layout {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("create layout dirs");
    let mut rng = Rng::new(seed);
    let layers: Vec<Vec<u8>> = (0..2)
        .map(|i| {
            let len = rng.range(1000, 40_000) as usize;
            tar_one_file(&format!("model/part-{i}.bin"), &rng.bytes(len))
        })
        .collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| sha256(l)).collect::<Vec<_>>()},
    }))
    .expect("serialize config");
    let mut blobs = vec![write_blob(dir, &config)];
    let layer_descs: Vec<Desc> = layers
        .iter()
        .map(|l| {
            blobs.push(write_blob(dir, l));
            Desc::of(MT_LAYER, l)
        })
        .collect();
    let manifest = image_manifest(
        &Desc::of(MT_CONFIG, &config),
        &layer_descs,
        json!({"annotations": {"org.pqreg.test.seed": seed.to_string()}}),
    );
    let manifest_digest = write_blob(dir, &manifest);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": MT_MANIFEST,
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("write index.json");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("write oci-layout");
    Layout {
        manifest_digest,
        manifest,
        blobs,
    }
}

/// Reads `index.json` of a layout and returns the manifest digest tagged `tag`.
pub fn layout_manifest_digest(dir: &Path, tag: &str) -> Option<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).ok()?).ok()?;
    index["manifests"].as_array()?.iter().find_map(|m| {
        let name = m["annotations"]["org.opencontainers.image.ref.name"].as_str();
        (name == Some(tag) || name.is_none())
            .then(|| m["digest"].as_str().map(str::to_owned))
            .flatten()
    })
}
