//! The encryption attacks of issue 12, performed over real HTTP against a real
//! `pqreg-registry` on 127.0.0.1, with the real `pqreg` binary as the victim:
//!
//! - **forged chunk** (spec/encryption.md §6.2, §9.3): a recipient knows the key of every
//!   chunk of the versions it was given, so it can seal bytes of its own under a real
//!   chunk's key. It publishes a version whose index pairs a real chunk's digest and key
//!   with its forged blob, and a trusted publisher is tricked into signing and logging it
//!   (simulated with the library, exactly as `pqreg push` signs). `pqreg pull` must
//!   refuse it (exit 10) and write nothing; the same version without the forgery pulls.
//! - **revocation** (spec/encryption.md §4.4): a recipient removed with `pqreg recipients
//!   remove`, holding everything it ever knew (content secret, index and every chunk key
//!   of the versions it was given) and every blob of the registry, can open neither the
//!   index nor any new chunk of a version pushed after its removal; a recipient added
//!   later reads the version it was given, and not the older ones.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::Path;

use pqreg::pack::{BlobSink, SignOptions, seal_index, sign_model};
use pqreg::registry_io::{RegistrySink, RegistrySource};
use pqreg::tlog::{LogClient, Submitter};
use pqreg::transfer::{RegistryClient, TransferOptions};
use pqreg::unpack::{BlobSource, read_index};
use pqreg_spec::Digest;
use pqreg_spec::artifact::{Config, Index, ModelManifest, media_types};
use pqreg_spec::compress::{Layout, WeightCodec};
use pqreg_spec::envelope::{ContentSecret, KeyEnvelope};
use pqreg_spec::keys::{RecipientPrivateKey, SigningKey};
use pqreg_spec::oci::Descriptor;
use pqreg_spec::segment::{ChunkKey, OpenReader, seal};
use pqreg_spec::statement::FileEntry;
use serde_json::Value;

use crate::cli_common::{Home, exits, files, ok, policy, tiny};
use crate::registry_common;
use crate::registry_common::Registry;

const REPO: &str = "models/tiny";

fn recipient(h: &Home, name: &str) -> RecipientPrivateKey {
    RecipientPrivateKey::from_pem(&std::fs::read_to_string(h.p(name)).unwrap()).unwrap()
}

fn digest_of(stdout: &str) -> Digest {
    let v: Value = serde_json::from_str(stdout).unwrap();
    v["digest"].as_str().unwrap().parse().unwrap()
}

fn source<'c>(client: &'c RegistryClient, cache: &Path) -> RegistrySource<'c> {
    RegistrySource::new(client, REPO, cache).unwrap()
}

fn blob(src: &RegistrySource<'_>, d: &Digest) -> Vec<u8> {
    let mut out = Vec::new();
    src.open_blob(d).unwrap().read_to_end(&mut out).unwrap();
    out
}

fn manifest(src: &RegistrySource<'_>, d: &Digest) -> ModelManifest {
    ModelManifest::from_json(&src.get_manifest(d).unwrap()).unwrap()
}

/// Whether `sealed` opens (every tag verifies, every body decodes) under `key`.
fn opens(sealed: &[u8], key: &ChunkKey) -> bool {
    let codec = WeightCodec::new(Layout::Bytes).unwrap();
    let mut sink = Vec::new();
    OpenReader::with_codec(sealed, Some(key.clone()), codec)
        .read_to_end(&mut sink)
        .is_ok()
}

/// The registry, and the trusted publisher's key that the attacker gets to sign.
struct Tricked<'a> {
    reg: &'a Registry,
    client: &'a RegistryClient,
    tmp: &'a Path,
    signer: &'a SigningKey,
}

/// Publishes, as the attacker, a version built from `index` (the forged or the genuine
/// one) under a fresh content secret sealed to `config`'s recipients, with the extra
/// `blobs` uploaded; then has the trusted publisher sign and log it and moves `tag` to it
/// (what a tricked publisher's `pqreg push` would do). Returns its digest.
fn publish(
    t: &Tricked<'_>,
    config: &Config,
    index: &Index,
    blobs: &[Vec<u8>],
    tag: &str,
) -> Digest {
    let Tricked {
        reg,
        client,
        tmp,
        signer,
    } = *t;
    let secret = ContentSecret::generate().unwrap();
    let recipients = config.key_envelope.as_ref().unwrap().public_keys();
    let config = Config {
        key_envelope: Some(KeyEnvelope::seal(&secret, &recipients).unwrap()),
        ..config.clone()
    };
    let config_json = config.to_json();
    let sealed_index = seal_index(index, &secret).unwrap();
    let index_desc = Descriptor::of(media_types::INDEX_ENCRYPTED, &sealed_index);
    let layers = index
        .layers()
        .into_iter()
        .map(|(d, size)| Descriptor::new(media_types::CHUNK_ENCRYPTED, d, size))
        .collect();
    let model = ModelManifest::build(&config_json, true, index_desc.clone(), layers, None);
    let manifest = model.manifest.to_json();
    let desc = Descriptor::of(pqreg_spec::oci::media_types::OCI_MANIFEST, &manifest);
    let mut sink = RegistrySink::new(client, REPO, tmp).unwrap();
    for b in blobs {
        sink.put_blob_bytes(&Descriptor::of(media_types::CHUNK_ENCRYPTED, b), b)
            .unwrap();
    }
    sink.put_blob_bytes(model.config(), &config_json).unwrap();
    sink.put_blob_bytes(&index_desc, &sealed_index).unwrap();
    sink.put_manifest(&desc, &manifest, None).unwrap();
    // The publisher signs and logs it, as `pqreg push` does.
    let log = LogClient::for_registry(&reg.addr, None).unwrap();
    let mut submitter = Submitter {
        client: &log,
        repository: REPO.to_owned(),
        tag: Some(tag.to_owned()),
        public_key: signer.verifying_key().to_spki_der(),
        policy: None,
        state: tmp.join("state"),
    };
    let entries: Vec<FileEntry> = index
        .files
        .iter()
        .map(|f| FileEntry {
            path: f.path.clone(),
            digest: f.digest,
            size: f.size,
        })
        .collect();
    let mut opts = SignOptions {
        signing_key: signer,
        classic_key: None,
        log_hook: Some(&mut submitter),
        binding: Some(now_binding(&format!("{}/{REPO}", reg.addr), tag)),
    };
    sign_model(&mut opts, "tiny", &entries, &desc, &mut sink).unwrap();
    sink.put_manifest(&desc, &manifest, Some(tag)).unwrap();
    sink.flush().unwrap();
    desc.digest
}

#[test]
fn forged_chunk_under_a_known_key_is_refused() {
    let reg = registry_common::start();
    let h = Home::new();
    ok(&h.run(&["keygen", "--recipient", "--out", &h.p("mallory")]));
    policy(
        &h.path().join("trust.toml"),
        &h.path().join("signer.pub"),
        &format!("{}/models/*", reg.addr),
    );
    // v1: encrypted to the publisher (rcpt) and to mallory.
    let v1 = format!("{}/{REPO}:v1", reg.addr);
    let d1 = digest_of(&ok(&h.push(
        &tiny(),
        &v1,
        "signer.key",
        &["--recipient", &h.p("mallory.pub")],
    )));

    // Mallory opens v1 with its own key: the content secret, the index, every chunk key.
    let client = RegistryClient::new(&reg.addr, None, TransferOptions::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let src = source(&client, &tmp.path().join("cache"));
    let mallory = recipient(&h, "mallory.key");
    let (config, index, _) = read_index(&src, &d1, Some(&mallory)).unwrap();

    // It seals bytes of its own, as long as the real chunk, under that chunk's key.
    let target = index
        .files
        .iter()
        .flat_map(|f| &f.chunks)
        .max_by_key(|c| c.length)
        .unwrap();
    let (digest, key) = (target.digest, target.key.clone().unwrap());
    let forged_plain = vec![0x41u8; target.length as usize];
    let forged = seal(&key, &forged_plain);
    let forged_layer = Digest::sha256(&forged);
    let mut forged_index = index.clone();
    for c in forged_index.files.iter_mut().flat_map(|f| &mut f.chunks) {
        if c.digest == digest {
            c.layer = forged_layer;
            c.layer_size = forged.len() as u64;
        }
    }
    forged_index.validate().unwrap();
    let signer =
        SigningKey::from_pem(&std::fs::read_to_string(h.p("signer.key")).unwrap()).unwrap();

    // Control: the same construction without the forgery is a valid version that pulls
    // (so the refusal below is the forged chunk's, nothing else's).
    let tricked = Tricked {
        reg: &reg,
        client: &client,
        tmp: tmp.path(),
        signer: &signer,
    };
    publish(&tricked, &config, &index, &[], "control");
    let o = h.pull(
        &format!("{}/{REPO}:control", reg.addr),
        "control",
        "rcpt.key",
        &[],
    );
    ok(&o);
    assert_eq!(files(&h.path().join("control")), files(&tiny()));

    // The forged version: signed and logged by the trusted publisher; every tag of the
    // forged blob verifies under the key the index lists for it.
    publish(
        &tricked,
        &config,
        &forged_index,
        std::slice::from_ref(&forged),
        "v2",
    );
    assert!(opens(&forged, &key));
    for who in ["rcpt.key", "mallory.key"] {
        let o = h.pull(&format!("{}/{REPO}:v2", reg.addr), "out", who, &[]);
        exits(&o, 10, "forged chunk");
        let err: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(err["error"]["name"], "DIGEST_MISMATCH", "{err}");
        let msg = err["error"]["message"].as_str().unwrap();
        assert!(msg.contains(&digest.to_string()), "{msg}");
        assert!(!h.path().join("out").exists(), "output written");
        for e in std::fs::read_dir(h.path()).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!n.contains("pqreg-partial"), "staging {n} left");
        }
    }
}

/// Size padding (spec/encryption.md §6.5) is authenticated and checked: a recipient
/// reseals a padded chunk of a `--pad` version under its real key with the same plaintext
/// (so the chunk digest still matches) and one padding byte that is not zero, and a
/// trusted publisher is tricked into signing the result. Pull refuses it (exit 10) and
/// writes nothing; the same version without the change pulls.
#[test]
fn nonzero_padding_is_refused() {
    let reg = registry_common::start();
    let h = Home::new();
    ok(&h.run(&["keygen", "--recipient", "--out", &h.p("mallory")]));
    policy(
        &h.path().join("trust.toml"),
        &h.path().join("signer.pub"),
        &format!("{}/models/*", reg.addr),
    );
    let v1 = format!("{}/{REPO}:v1", reg.addr);
    let d1 = digest_of(&ok(&h.push(
        &tiny(),
        &v1,
        "signer.key",
        &["--recipient", &h.p("mallory.pub"), "--pad"],
    )));
    let client = RegistryClient::new(&reg.addr, None, TransferOptions::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let src = source(&client, &tmp.path().join("cache"));
    let mallory = recipient(&h, "mallory.key");
    let (config, index, _) = read_index(&src, &d1, Some(&mallory)).unwrap();
    assert!(index.is_padded());
    let target = index
        .files
        .iter()
        .flat_map(|f| &f.chunks)
        .filter(|c| c.padding.unwrap() > 0)
        .max_by_key(|c| c.length)
        .expect("a chunk with padding");
    let key = target.key.clone().unwrap();
    let mut padded = pqreg_spec::segment::open(&key, &blob(&src, &target.layer)).unwrap();
    assert_eq!(padded.len() as u64, target.length + target.padding.unwrap());
    assert!(padded[target.length as usize..].iter().all(|&b| b == 0));
    *padded.last_mut().unwrap() = 1;
    let forged = seal(&key, &padded);
    let mut forged_index = index.clone();
    for c in forged_index.files.iter_mut().flat_map(|f| &mut f.chunks) {
        if c.digest == target.digest {
            c.layer = Digest::sha256(&forged);
            c.layer_size = forged.len() as u64;
        }
    }
    forged_index.validate().unwrap();
    let signer =
        SigningKey::from_pem(&std::fs::read_to_string(h.p("signer.key")).unwrap()).unwrap();
    let tricked = Tricked {
        reg: &reg,
        client: &client,
        tmp: tmp.path(),
        signer: &signer,
    };
    publish(&tricked, &config, &index, &[], "control");
    ok(&h.pull(
        &format!("{}/{REPO}:control", reg.addr),
        "control",
        "rcpt.key",
        &[],
    ));
    assert_eq!(files(&h.path().join("control")), files(&tiny()));

    publish(
        &tricked,
        &config,
        &forged_index,
        std::slice::from_ref(&forged),
        "v2",
    );
    let o = h.pull(&format!("{}/{REPO}:v2", reg.addr), "out", "rcpt.key", &[]);
    exits(&o, 10, "non-zero padding");
    let err: Value = serde_json::from_slice(&o.stdout).unwrap();
    let msg = err["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("padding byte") && msg.contains(&target.digest.to_string()),
        "{msg}"
    );
    assert!(!h.path().join("out").exists(), "output written");
}

/// The chunk layers of a manifest.
fn chunk_layers(m: &ModelManifest) -> BTreeSet<Digest> {
    m.chunk_layers().iter().map(|l| l.digest).collect()
}

#[test]
fn removed_recipient_reads_nothing_pushed_after_its_removal() {
    let reg = registry_common::start();
    let h = Home::new();
    ok(&h.run(&["keygen", "--recipient", "--out", &h.p("removed")]));
    ok(&h.run(&["keygen", "--recipient", "--out", &h.p("later")]));
    policy(
        &h.path().join("trust.toml"),
        &h.path().join("signer.pub"),
        &format!("{}/models/*", reg.addr),
    );
    let r = format!("{}/{REPO}:latest", reg.addr);
    let d1 = digest_of(&ok(&h.push(
        &tiny(),
        &r,
        "signer.key",
        &["--recipient", &h.p("removed.pub")],
    )));
    let client = RegistryClient::new(&reg.addr, None, TransferOptions::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let src = source(&client, &tmp.path().join("cache"));

    // What the removed recipient knows: v1's secret, index and every chunk key.
    let removed = recipient(&h, "removed.key");
    let (_, index1, secret1) = read_index(&src, &d1, Some(&removed)).unwrap();
    let secret1 = secret1.unwrap();
    let mut known: Vec<ChunkKey> = index1
        .files
        .iter()
        .flat_map(|f| &f.chunks)
        .map(|c| c.key.clone().unwrap())
        .collect();
    known.push(ChunkKey::index_key(&secret1));

    // The publisher removes it, then pushes a new version with new chunks, reusing the
    // unchanged ones (--identity).
    let rm = [
        "-o",
        "json",
        "recipients",
        "remove",
        &r,
        &h.p("removed.pub"),
        "--identity",
        &h.p("rcpt.key"),
        "--sign-key",
        &h.p("signer.key"),
    ];
    ok(&h.run(&rm));
    let model = tmp.path().join("model");
    std::fs::create_dir(&model).unwrap();
    for (name, bytes) in files(&tiny()) {
        std::fs::write(model.join(name), bytes).unwrap();
    }
    let extra: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(model.join("extra.bin"), &extra).unwrap();
    let d2 = digest_of(&ok(&h.push(
        &model,
        &r,
        "signer.key",
        &["--identity", &h.p("rcpt.key")],
    )));

    let m1 = manifest(&src, &d1);
    let m2 = manifest(&src, &d2);
    let new_layers: Vec<Digest> = chunk_layers(&m2)
        .difference(&chunk_layers(&m1))
        .copied()
        .collect();
    let reused: Vec<Digest> = chunk_layers(&m2)
        .intersection(&chunk_layers(&m1))
        .copied()
        .collect();
    assert!(!new_layers.is_empty(), "the push added chunks");
    assert!(!reused.is_empty(), "the push reused chunks");

    // The removed key: no entry in the new envelope, and none of the keys it knows opens
    // the new index or any new chunk.
    let config2 = Config::from_json(&blob(&src, &m2.config().digest)).unwrap();
    assert!(
        config2
            .key_envelope
            .as_ref()
            .unwrap()
            .open(&removed)
            .is_err()
    );
    let index2 = blob(&src, &m2.index_layer().digest);
    for k in &known {
        assert!(
            !opens(&index2, k),
            "a key the removed recipient knows opens the new index"
        );
    }
    for l in &new_layers {
        let b = blob(&src, l);
        for k in &known {
            assert!(
                !opens(&b, k),
                "a key the removed recipient knows opens new chunk {l}"
            );
        }
    }
    // What it keeps: the chunks it was given, which the new version still carries (same
    // blob, same key). This also shows its keys are real ones.
    for l in &reused {
        let b = blob(&src, l);
        assert!(known.iter().any(|k| opens(&b, k)), "reused chunk {l}");
    }
    // And pqreg with the removed key cannot pull the new version.
    let o = h.pull(&r, "out-removed", "removed.key", &[]);
    exits(&o, 14, "removed recipient");

    // A recipient added now reads the version it is given (reused chunks included) ...
    let add = [
        "-o",
        "json",
        "recipients",
        "add",
        &r,
        &h.p("later.pub"),
        "--identity",
        &h.p("rcpt.key"),
        "--sign-key",
        &h.p("signer.key"),
    ];
    ok(&h.run(&add));
    ok(&h.pull(&r, "out-later", "later.key", &[]));
    assert_eq!(files(&h.path().join("out-later")), files(&model));
    // ... and not the older versions (spec/encryption.md §4.4).
    let old = format!("{}/{REPO}@{d1}", reg.addr);
    let o = h.pull(&old, "out-later-old", "later.key", &[]);
    exits(&o, 14, "later recipient, older version");
}

/// A location binding for `repository:tag` at a version above any earlier push's (the
/// milliseconds since the epoch, as `pqreg push` writes), signed now.
fn now_binding(repository: &str, tag: &str) -> pqreg_spec::statement::Binding {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    pqreg_spec::statement::Binding {
        repository: repository.to_owned(),
        tag: Some(tag.to_owned()),
        version: u64::try_from(now.as_millis()).unwrap(),
        signed_at: now.as_secs(),
    }
}
