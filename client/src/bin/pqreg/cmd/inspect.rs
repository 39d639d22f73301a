//! `pqreg inspect REF`: a model's manifest, recipients' key IDs, signatures and log
//! entries, each signature checked against the trust policy when there is one. The JSON
//! shape is client/OUTPUT.md.

use std::fmt::Write as _;

use serde_json::json;

use crate::cli::InspectArgs;
use crate::common::{Outcome, connect, credential, load_policy, parse_ref, resolve};
use pqreg::inspect::{InspectOptions, Inspection, inspect};
use pqreg::paths::Paths;
use pqreg::reference::Reference;
use pqreg::registry_io::RegistrySource;
use pqreg::tlog::BundleLog;
use pqreg::transfer::DEFAULT_CONCURRENCY;

/// `pqreg inspect REF`.
pub(crate) fn run(a: &InspectArgs) -> crate::common::Result<Outcome> {
    let r = parse_ref(&a.reference)?;
    let paths = Paths::from_process_env();
    let policy_path = match &a.policy {
        Some(p) => Some(p.clone()),
        None => Some(paths.config.join("policy.toml")).filter(|p| p.exists()),
    };
    let policy = policy_path
        .as_deref()
        .map(|p| load_policy(Some(p), &paths))
        .transpose()?;
    let client = connect(&r, DEFAULT_CONCURRENCY)?;
    let digest = resolve(&client, &r)?;
    let source = RegistrySource::new(&client, r.repository(), &paths.cache)?;
    let repository = r.name();
    let bundle_log = match &policy {
        Some(p) => Some(BundleLog {
            policy: p,
            registry: r.registry().to_owned(),
            credential: credential(&r)?,
            state: paths.state.clone(),
        }),
        None => None,
    };
    let opts = InspectOptions {
        policy: policy.as_ref().map(|p| (p, repository.as_str())),
        log_verifier: bundle_log
            .as_ref()
            .map(|b| b as &dyn pqreg::unpack::LogVerifier),
    };
    let info = inspect(&source, &digest, opts)?;
    let pinned = r.with_digest(digest);
    let mut value = serde_json::to_value(&info).map_err(anyhow::Error::from)?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("reference".into(), json!(pinned.to_string()));
        obj.insert(
            "policy".into(),
            json!(policy_path.map(|p| p.display().to_string())),
        );
    }
    Ok(Outcome {
        text: inspect_text(&pinned, &info, policy.is_some()),
        json: value,
    })
}

fn inspect_text(r: &Reference, i: &Inspection, with_policy: bool) -> String {
    let mut t = String::new();
    let mut line = |k: &str, v: &str| {
        let _ = writeln!(t, "{k:<15}{v}");
    };
    line("reference", &r.to_string());
    line("media type", &i.media_type);
    line(
        "artifact type",
        i.artifact_type.as_deref().unwrap_or("(none)"),
    );
    line(
        "config",
        &format!("{} ({} bytes)", i.config.digest, i.config.size),
    );
    line(
        "encrypted",
        &if i.encrypted {
            format!("yes ({}, {})", i.algorithms.aead, i.algorithms.kdf)
        } else {
            "no".to_owned()
        },
    );
    line(
        "index",
        &format!("{} ({} bytes)", i.index.digest, i.index.size),
    );
    line(
        "layers",
        &format!(
            "{} chunk blobs, {} bytes",
            i.layers.count, i.layers.total_bytes
        ),
    );
    line("recipients", &i.recipients.len().to_string());
    for rc in &i.recipients {
        let _ = writeln!(t, "  {}  {}", rc.key_id, rc.kem);
    }
    let _ = writeln!(t, "{:<15}{}", "signatures", i.signatures.len());
    for s in &i.signatures {
        let status = match (&s.verification, &s.error) {
            (_, Some(e)) => format!("unreadable: {e}"),
            (None, None) if with_policy => "not checked".to_owned(),
            (None, None) => "not verified (no trust policy)".to_owned(),
            (Some(v), None) if v.verified => format!("verified (log {})", v.log),
            (Some(v), None) => format!(
                "FAILED {}: {}",
                v.error_code.unwrap_or("ERROR"),
                v.error.as_deref().unwrap_or("")
            ),
        };
        let _ = writeln!(
            t,
            "  {}  signer {}  statement {}  {status}",
            s.algorithm.as_deref().unwrap_or("?"),
            s.key_hint.as_deref().unwrap_or("?"),
            s.statement_digest
                .map_or_else(|| "?".to_owned(), |d| d.to_string()),
        );
        for e in &s.log_entries {
            let _ = writeln!(
                t,
                "    log entry {} of tree size {}, origin {}{}",
                e.index,
                e.tree_size,
                e.origin.as_deref().unwrap_or("?"),
                e.repository
                    .as_deref()
                    .map_or_else(String::new, |r| format!(", repository {r}")),
            );
        }
    }
    for o in &i.other_referrers {
        let _ = writeln!(t, "{:<15}{} {}", "referrer", o.digest, o.media_type);
    }
    t.trim_end().to_owned()
}
