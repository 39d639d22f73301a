//! `pqreg log proof REF` writes an offline proof (C2SP tlog-proof, spec/transparency-log.md
//! §11) of the model's signature entry, verified against the log's newest checkpoint, and
//! optionally an OCI image layout holding the model with its signature referrer;
//! `pqreg verify --offline --layout DIR --proof FILE REF` (`cmd/verify.rs`) checks both
//! without network.

use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use pqreg::pack::{BlobSink, DirSink};
use pqreg::paths::Paths;
use pqreg::reference::Target;
use pqreg::tlog::{LogError, TreeHead, log_id};
use pqreg::transfer::RegistryClient;
use pqreg_spec::Digest;
use pqreg_spec::bundle::referrer::{ReferrerManifest, bundle_tag, is_ml_dsa_bundle};
use pqreg_spec::bundle::{BUNDLE_MEDIA_TYPE, Bundle};
use pqreg_spec::checkpoint::proof::ProofFile;
use pqreg_spec::oci::{self, Descriptor, ImageManifest};
use pqreg_spec::statement::Statement;
use serde_json::json;

use crate::cli::LogProofArgs;
use crate::common::{Outcome, advance, connect, parse_ref, with_log_host};

/// The ML-DSA signature referrer of `digest`: its descriptor and bytes, and the bundle's
/// descriptor and bytes (digests checked).
struct Signature {
    referrer: Descriptor,
    referrer_bytes: Vec<u8>,
    bundle: Descriptor,
    bundle_bytes: Vec<u8>,
}

/// The ML-DSA bundle to export: for a tag, the first (of those a pull tries, §7 step 3:
/// announcing the tag first, at most 8) whose statement is bound to that tag, so that
/// the offline pull of that tag finds its signature; else (or by digest) the first. The
/// choice is not a check: `verify --offline` verifies what is exported.
fn find_signature(
    client: &RegistryClient,
    repo: &str,
    digest: &Digest,
    tag: Option<&str>,
    tmp: &Path,
) -> crate::common::Result<Signature> {
    let list = client.referrers(repo, digest, Some(BUNDLE_MEDIA_TYPE))?;
    let pq: Vec<&Descriptor> = list
        .manifests
        .iter()
        .filter(|d| is_ml_dsa_bundle(d))
        .collect();
    let (hinted, rest): (Vec<_>, Vec<_>) = pq
        .iter()
        .partition(|d| tag.is_some() && bundle_tag(d) == tag);
    let mut first = None;
    for d in hinted
        .into_iter()
        .chain(rest)
        .take(pqreg::unpack::MAX_BUNDLES_TRIED)
    {
        let sig = fetch_signature(client, repo, d, tmp)?;
        let bound = Bundle::from_json(&sig.bundle_bytes)
            .ok()
            .and_then(|b| Statement::from_json(&b.dsse_envelope.payload).ok())
            .and_then(|st| st.binding.and_then(|b| b.tag));
        if tag.is_none() || bound.as_deref() == tag {
            return Ok(sig);
        }
        first.get_or_insert(sig);
    }
    first.ok_or_else(|| pqreg::unpack::UnpackError::NoSignature(*digest).into())
}

fn fetch_signature(
    client: &RegistryClient,
    repo: &str,
    d: &Descriptor,
    tmp: &Path,
) -> crate::common::Result<Signature> {
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
pub(crate) fn run(a: &LogProofArgs) -> crate::common::Result<Outcome> {
    let r = parse_ref(&a.reference)?;
    let paths = Paths::from_process_env();
    let client = connect(&r, pqreg::transfer::DEFAULT_CONCURRENCY)?;
    let repo = r.repository();
    let (digest, tag) = match r.target() {
        Target::Digest(d) => (d, None),
        Target::Tag(t) => (client.get_manifest(repo, t)?.digest, Some(t.to_owned())),
    };
    let tmp = paths.cache.join("tmp");
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let sig = find_signature(&client, repo, &digest, tag.as_deref(), &tmp)?;
    let bundle = Bundle::from_json(&sig.bundle_bytes).map_err(pqreg_spec::Error::from)?;
    let entry = bundle
        .pqreg_log_entry()
        .map_err(pqreg_spec::Error::from)?
        .clone();
    let (file, head) = with_log_host(r.registry(), a.policy.as_deref(), |log| {
        if entry.log_id[..] != log_id(log.origin()) {
            return Err(LogError::EntryMismatch(format!(
                "the bundle's entry is not in {}",
                log.origin()
            )));
        }
        let (c, _) = advance(log)?;
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
        "pqreg: entry {} of the log (the signature of {}) is included in the checkpoint {head}{}{}",
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
) -> crate::common::Result<()> {
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
