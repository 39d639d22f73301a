//! `pqreg log proof REF` writes an offline proof (C2SP tlog-proof, spec/transparency-log.md
//! §11) of the model's signature entry, verified against the log's newest checkpoint, and
//! optionally an OCI image layout holding the model with its signature referrer;
//! `pqreg verify --offline --layout DIR --proof FILE REF` checks both without network.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use clap::Args;
use pqreg::exit;
use pqreg::pack::{BlobSink, DirSink};
use pqreg::paths::Paths;
use pqreg::reference::Target;
use pqreg::tlog::{LogError, ProofLog, TreeHead, log_id};
use pqreg::transfer::RegistryClient;
use pqreg::unpack::{DirSource, UnpackOptions};
use pqreg_spec::Digest;
use pqreg_spec::bundle::referrer::{ANNOTATION_ALGORITHM, ReferrerManifest};
use pqreg_spec::bundle::{BUNDLE_MEDIA_TYPE, Bundle};
use pqreg_spec::checkpoint::proof::ProofFile;
use pqreg_spec::oci::{self, Descriptor, ImageManifest};
use pqreg_spec::policy::parse_algorithm;
use serde_json::json;

use crate::{Outcome, fail, parse_ref};

/// `pqreg log proof`.
#[derive(Debug, Args)]
pub struct LogProofArgs {
    /// The model: host[:port]/repo[:tag][@sha256:hex].
    pub reference: String,
    /// Write the proof here (default: stdout).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also write the model, its config, index, chunks and signature referrer as an OCI
    /// image layout in DIR (for `pqreg verify --offline`).
    #[arg(long, value_name = "DIR")]
    pub layout: Option<PathBuf>,
    /// Trust policy with the log's keys (default: $XDG_CONFIG_HOME/pqreg/policy.toml).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// The ML-DSA signature referrer of `digest`: its descriptor and bytes, and the bundle's
/// descriptor and bytes (digests checked).
struct Signature {
    referrer: Descriptor,
    referrer_bytes: Vec<u8>,
    bundle: Descriptor,
    bundle_bytes: Vec<u8>,
}

fn find_signature(
    client: &RegistryClient,
    repo: &str,
    digest: &Digest,
    tmp: &Path,
) -> anyhow::Result<Signature> {
    let list = client.referrers(repo, digest, Some(BUNDLE_MEDIA_TYPE))?;
    let pq = list.manifests.iter().find(|d| {
        d.annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_ALGORITHM))
            .and_then(|a| parse_algorithm(a))
            .is_some_and(|a| a.name().starts_with("ml-dsa"))
    });
    let Some(d) = pq else {
        return Err(pqreg::unpack::UnpackError::NoSignature(*digest).into());
    };
    let m = client.get_manifest(repo, &d.digest.to_string())?;
    if m.digest != d.digest {
        return Err(pqreg::unpack::UnpackError::BlobDigest {
            what: "referrer manifest",
            expected: d.digest,
            actual: m.digest,
        }
        .into());
    }
    let r = ReferrerManifest::from_json(&m.bytes).map_err(pqreg_spec::Error::from)?;
    let path = tmp.join(r.bundle.digest.hex());
    client.pull_blob_to(repo, &r.bundle.digest, r.bundle.size, &path)?;
    let bundle_bytes =
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let _ = std::fs::remove_file(&path);
    let mut referrer = Descriptor::of(oci::media_types::OCI_MANIFEST, &m.bytes);
    referrer.artifact_type = Some(BUNDLE_MEDIA_TYPE.to_owned());
    Ok(Signature {
        referrer,
        referrer_bytes: m.bytes,
        bundle: Descriptor::new(r.bundle.media_type.clone(), r.bundle.digest, r.bundle.size),
        bundle_bytes,
    })
}

/// `pqreg log proof REF`.
pub(crate) fn proof(a: &LogProofArgs) -> anyhow::Result<Outcome> {
    let r = parse_ref(&a.reference)?;
    let paths = Paths::from_process_env();
    let client = crate::remote_cmd::connect(&r, pqreg::transfer::DEFAULT_CONCURRENCY)?;
    let repo = r.repository();
    let (digest, tag) = match r.target() {
        Target::Digest(d) => (d, None),
        Target::Tag(t) => (client.get_manifest(repo, t)?.digest, Some(t.to_owned())),
    };
    let tmp = paths.cache.join("tmp");
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let sig = find_signature(&client, repo, &digest, &tmp)?;
    let bundle = Bundle::from_json(&sig.bundle_bytes).map_err(pqreg_spec::Error::from)?;
    let entry = bundle
        .pqreg_log_entry()
        .map_err(pqreg_spec::Error::from)?
        .clone();
    let (file, head) = crate::log_cmd::with_log_host(r.registry(), a.policy.as_deref(), |log| {
        if entry.log_id[..] != log_id(log.origin()) {
            return Err(LogError::EntryMismatch(format!(
                "the bundle's entry is not in {}",
                log.origin()
            )));
        }
        let (c, _) = crate::log_cmd::advance(log)?;
        let mut tiles = log.tiles(c.checkpoint.size);
        let proof =
            log.check_inclusion(&mut tiles, &entry.canonicalized_body, entry.log_index, &c)?;
        let file = ProofFile {
            extra: Some(entry.canonicalized_body.clone()),
            index: entry.log_index,
            proof,
            checkpoint: c.note.to_bytes(),
        };
        Ok((file, TreeHead::of(&c)))
    })?;
    let bytes = file.encode();
    if let Some(out) = &a.out {
        std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    }
    if let Some(dir) = &a.layout {
        export_layout(&client, repo, &digest, tag.as_deref(), &sig, dir)?;
    }
    eprintln!(
        "pqreg: entry {} of {} is included in {head}{}{}",
        entry.log_index,
        r.with_digest(digest),
        a.out
            .as_ref()
            .map(|p| format!("; proof written to {}", p.display()))
            .unwrap_or_default(),
        a.layout
            .as_ref()
            .map(|p| format!("; model written to the OCI layout {}", p.display()))
            .unwrap_or_default(),
    );
    let text = if a.out.is_some() {
        String::new()
    } else {
        String::from_utf8_lossy(&bytes).trim_end().to_owned()
    };
    Ok(Outcome {
        text,
        json: json!({
            "reference": r.with_digest(digest).to_string(),
            "index": entry.log_index,
            "checkpoint": {"size": head.size, "root": base64::engine::general_purpose::STANDARD.encode(head.root)},
            "proof": String::from_utf8_lossy(&bytes),
            "out": a.out,
            "layout": a.layout,
        }),
    })
}

/// The model manifest, every blob it references and its signature referrer, into an OCI
/// image layout (pull_blob_to checks each digest before the rename).
fn export_layout(
    client: &RegistryClient,
    repo: &str,
    digest: &Digest,
    tag: Option<&str>,
    sig: &Signature,
    dir: &Path,
) -> anyhow::Result<()> {
    let mut sink = DirSink::create(dir)?;
    let m = client.get_manifest(repo, &digest.to_string())?;
    let manifest = ImageManifest::from_json(&m.bytes).map_err(pqreg_spec::Error::from)?;
    for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
        if !sink.has_blob(&d.digest)? {
            client.pull_blob_to(repo, &d.digest, d.size, &sink.blob_path(&d.digest))?;
        }
    }
    sink.put_manifest(
        &Descriptor::of(m.media_type.clone(), &m.bytes),
        &m.bytes,
        tag,
    )?;
    sink.put_blob_bytes(&Descriptor::empty(), oci::EMPTY_JSON)?;
    sink.put_blob_bytes(&sig.bundle, &sig.bundle_bytes)?;
    sink.put_manifest(&sig.referrer, &sig.referrer_bytes, None)?;
    Ok(())
}

/// `pqreg verify --offline --layout DIR --proof FILE REF`.
pub(crate) fn verify_offline(
    reference: &str,
    layout: &Path,
    proof: &Path,
    identity: Option<&Path>,
    policy: Option<&Path>,
) -> anyhow::Result<Outcome> {
    let r = parse_ref(reference)?;
    let paths = Paths::from_process_env();
    let policy = crate::remote_cmd::load_policy(policy, &paths)?;
    let identity = identity
        .map(|p| crate::remote_cmd::identity_key(p, None))
        .transpose()?;
    let source = DirSource::open(layout)?;
    let digest = match r.target() {
        Target::Digest(d) => d,
        Target::Tag(t) => source.resolve(t).ok_or_else(|| {
            fail(
                exit::USAGE,
                format!("the layout {} has no tag {t}", layout.display()),
                "Name the model by digest (REF@sha256:…) or by a tag the layout holds.",
            )
        })?,
    };
    let bytes = std::fs::read(proof).with_context(|| format!("reading {}", proof.display()))?;
    let proof_file =
        ProofFile::parse(&bytes).map_err(|e| pqreg::Error::from(LogError::ProofFile(e)))?;
    let log = ProofLog {
        policy: &policy,
        proof: proof_file,
        state: paths.state.clone(),
        registry: r.registry().to_owned(),
    };
    let mut opts = UnpackOptions::new(r.name(), &policy);
    opts.verify_plaintext = true;
    opts.identity = identity.as_ref();
    opts.log_verifier = Some(&log);
    let report = crate::remote_cmd::verify_into(&source, &digest, &opts, None, &paths)?;
    let pinned = r.with_digest(digest);
    eprintln!(
        "pqreg: verified {pinned} offline: signed by {}, log entry {} proven by {}, {} files, {} bytes",
        report.signer,
        log.proof.index,
        proof.display(),
        report.files,
        report.bytes
    );
    Ok(Outcome {
        text: pinned.to_string(),
        json: json!({
            "reference": pinned.to_string(),
            "digest": digest.to_string(),
            "signer": report.signer.to_string(),
            "files": report.files,
            "bytes": report.bytes,
            "log_verified": report.log_verified,
            "offline": true,
        }),
    })
}
