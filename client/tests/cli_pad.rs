//! Size padding (issue 12, spec/encryption.md §6.5) over real HTTP: `pqreg push --pad`
//! against a real `pqreg-registry` on 127.0.0.1, read back by the real `pqreg pull`.
//!
//! What the registry sees of a padded push: every chunk layer, and the index layer, is
//! the sealed length of a Padmé length (a fixed point of `padme`), whatever the file
//! sizes; the same model pushed without `--pad` shows the exact sizes. The index (opened
//! with the recipient key, as a recipient can) lists each chunk's `padding` as
//! `padme(length) - length`. Pull writes the files byte for byte, and no padding byte.
//!
//! The overhead is printed (`cargo test -p pqreg --test cli_pad -- --nocapture`): the
//! layer bytes of the padded and the unpadded push, for the tiny fixture model and for a
//! synthetic bf16 model.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use pqreg::registry_io::RegistrySource;
use pqreg::transfer::{RegistryClient, TransferOptions};
use pqreg::unpack::{BlobSource, read_index};
use pqreg_spec::Digest;
use pqreg_spec::artifact::ModelManifest;
use pqreg_spec::keys::RecipientPrivateKey;
use pqreg_spec::segment::{ciphertext_len, padme, plaintext_len};
use serde_json::Value;

use crate::cli_common::{Home, exits, files, ok, policy, tiny};
use crate::registry_common;

fn digest_of(stdout: &str) -> Digest {
    let v: Value = serde_json::from_str(stdout).unwrap();
    v["digest"].as_str().unwrap().parse().unwrap()
}

/// Every layer size of `manifest` (index and chunks) as the registry sees them.
fn layer_sizes(src: &RegistrySource<'_>, d: &Digest) -> (u64, Vec<u64>) {
    let m = ModelManifest::from_json(&src.get_manifest(d).unwrap()).unwrap();
    let index = m.index_layer().size;
    (index, m.chunk_layers().iter().map(|l| l.size).collect())
}

/// Whether `sealed` bytes are the sealed length of a Padmé length.
fn padded_size(sealed: u64) -> bool {
    let p = plaintext_len(sealed).unwrap();
    padme(p) == p
}

/// A model whose sizes Padmé changes: an odd-sized text file and a safetensors file.
fn odd_model(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("notes.txt"), vec![b'x'; 100_001]).unwrap();
    std::fs::copy(tiny().join("config.json"), dir.join("config.json")).unwrap();
    std::fs::copy(
        tiny().join("model.safetensors"),
        dir.join("model.safetensors"),
    )
    .unwrap();
}

struct Pushed {
    digest: Digest,
    index_layer: u64,
    chunk_layers: Vec<u64>,
}

fn push(h: &Home, src: &RegistrySource<'_>, dir: &Path, reference: &str, pad: bool) -> Pushed {
    let extra: &[&str] = if pad { &["--pad"] } else { &[] };
    let digest = digest_of(&ok(&h.push(dir, reference, "signer.key", extra)));
    let (index_layer, chunk_layers) = layer_sizes(src, &digest);
    Pushed {
        digest,
        index_layer,
        chunk_layers,
    }
}

#[test]
fn padded_push_shows_only_padme_sizes_and_pulls_back_exactly() {
    let reg = registry_common::start();
    let h = Home::new();
    policy(
        &h.path().join("trust.toml"),
        &h.path().join("signer.pub"),
        &format!("{}/models/*", reg.addr),
    );
    let model = h.path().join("odd");
    odd_model(&model);
    let client = RegistryClient::new(&reg.addr, None, TransferOptions::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let src = RegistrySource::new(&client, "models/odd", &tmp.path().join("cache")).unwrap();

    let plain = push(
        &h,
        &src,
        &model,
        &format!("{}/models/odd:plain", reg.addr),
        false,
    );
    let padded = push(
        &h,
        &src,
        &model,
        &format!("{}/models/odd:padded", reg.addr),
        true,
    );

    // Unpadded, some sizes are exact (not Padmé fixed points); padded, none is.
    assert!(
        !plain.chunk_layers.iter().all(|&s| padded_size(s)),
        "the control's sizes are already Padmé sizes: the test shows nothing {:?}",
        plain.chunk_layers
    );
    for &s in &padded.chunk_layers {
        assert!(padded_size(s), "chunk layer of {s} bytes is not padded");
    }
    assert!(padded_size(padded.index_layer), "index layer not padded");

    // The index, as a recipient reads it: every chunk padded to padme(length), stored.
    let rcpt =
        RecipientPrivateKey::from_pem(&std::fs::read_to_string(h.p("rcpt.key")).unwrap()).unwrap();
    let (_, index, _) = read_index(&src, &padded.digest, Some(&rcpt)).unwrap();
    for c in index.files.iter().flat_map(|f| &f.chunks) {
        let pad = c.padding.unwrap();
        assert_eq!(c.length + pad, padme(c.length), "{c:?}");
        assert_eq!(c.layer_size, ciphertext_len(c.length + pad).unwrap());
    }
    // The unpadded version's index has no padding anywhere.
    let (_, plain_index, _) = read_index(&src, &plain.digest, Some(&rcpt)).unwrap();
    assert!(!plain_index.is_padded());

    let o = h.pull(
        &format!("{}/models/odd:padded", reg.addr),
        "out",
        "rcpt.key",
        &[],
    );
    ok(&o);
    assert_eq!(files(&h.path().join("out")), files(&model));

    println!(
        "pad overhead, tiny+100001 B model: layer bytes {} unpadded, {} padded ({:+.1}%)",
        plain.chunk_layers.iter().sum::<u64>() + plain.index_layer,
        padded.chunk_layers.iter().sum::<u64>() + padded.index_layer,
        overhead(&plain, &padded)
    );
}

fn overhead(plain: &Pushed, padded: &Pushed) -> f64 {
    let a = (plain.chunk_layers.iter().sum::<u64>() + plain.index_layer) as f64;
    let b = (padded.chunk_layers.iter().sum::<u64>() + padded.index_layer) as f64;
    (b / a - 1.0) * 100.0
}

#[test]
fn pad_needs_recipients() {
    let reg = registry_common::start();
    let h = Home::new();
    let o = h.run(&[
        "push",
        tiny().to_str().unwrap(),
        &format!("{}/models/tiny:v1", reg.addr),
        "--unencrypted",
        "--pad",
        "--sign-key",
        &h.p("signer.key"),
    ]);
    exits(&o, 2, "--pad with --unencrypted");
}

/// The overhead of `--pad` on the fixture model and on a synthetic bf16 model (64 MiB),
/// printed for the record; asserted only to be what Padmé and storing allow.
#[test]
fn pad_overhead_on_the_fixture_and_a_synthetic_model() {
    let reg = registry_common::start();
    let h = Home::new();
    let client = RegistryClient::new(&reg.addr, None, TransferOptions::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let synth = h.path().join("synth");
    std::fs::create_dir_all(&synth).unwrap();
    pqreg::chunker::synth::write_bf16_model(&synth, 64, 7).unwrap();
    for (name, dir) in [("tiny", tiny()), ("synth-bf16-64mib", synth)] {
        let repo = format!("models/{name}");
        let src = RegistrySource::new(&client, &repo, &tmp.path().join(name)).unwrap();
        let plain = push(&h, &src, &dir, &format!("{}/{repo}:plain", reg.addr), false);
        let padded = push(&h, &src, &dir, &format!("{}/{repo}:padded", reg.addr), true);
        let model_bytes: u64 = files(&dir).iter().map(|(_, b)| b.len() as u64).sum();
        let padded_total = padded.chunk_layers.iter().sum::<u64>() + padded.index_layer;
        println!(
            "pad overhead, {name} ({model_bytes} B of files, {} chunks): layer bytes {} unpadded, {padded_total} padded ({:+.1}%); padded vs the files {:+.2}%",
            padded.chunk_layers.len(),
            plain.chunk_layers.iter().sum::<u64>() + plain.index_layer,
            overhead(&plain, &padded),
            (padded_total as f64 / model_bytes as f64 - 1.0) * 100.0
        );
        // Stored and padded: at most 1/8 over the files (Padmé for 16 B and more, every
        // chunk here is larger) plus 22 bytes per MiB of records and the index.
        assert!(padded_total as f64 <= model_bytes as f64 * 1.125 + 64.0 * 1024.0);
    }
}
