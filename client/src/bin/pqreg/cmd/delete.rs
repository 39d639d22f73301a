//! `pqreg delete REF`: deletes a tag (`REF:tag`), or a version and every tag on it
//! (`REF@sha256:…`). The registry logs each deletion (`tag-delete`, `manifest-delete`;
//! spec/transparency-log.md §3.1), so watchers of the repository see it; chunk blobs
//! stay until the registry's garbage collection.

use serde_json::json;

use crate::cli::DeleteArgs;
use crate::common::{Outcome, connect, fail, parse_ref};
use pqreg::exit;
use pqreg::reference::Target;
use pqreg::transfer::DEFAULT_CONCURRENCY;

/// `pqreg delete REF`.
pub(crate) fn run(a: &DeleteArgs) -> crate::common::Result<Outcome> {
    let r = parse_ref(&a.reference)?;
    let explicit_tag = r.tag().is_some();
    if r.digest().is_some() && explicit_tag {
        return Err(fail(
            exit::USAGE,
            format!("{}: give a tag or a digest, not both", a.reference),
            "Delete the tag with REPO:TAG, or the version and all its tags with REPO@sha256:….",
        ));
    }
    if !explicit_tag && r.digest().is_none() {
        // Never delete `:latest` because the user forgot to name what to delete.
        return Err(fail(
            exit::USAGE,
            format!("{}: name the tag or the digest to delete", a.reference),
            "Delete a tag with REPO:TAG, or a version and all its tags with REPO@sha256:….",
        ));
    }
    let client = connect(&r, DEFAULT_CONCURRENCY)?;
    let (what, reference) = match r.target() {
        Target::Digest(d) => ("version", d.to_string()),
        Target::Tag(t) => ("tag", t.to_owned()),
    };
    client.delete_manifest(r.repository(), &reference)?;
    eprintln!(
        "pqreg: deleted {what} {}; the registry logs the deletion (`pqreg log search {} --repo {}` shows it)",
        a.reference,
        r.registry(),
        r.repository()
    );
    Ok(Outcome {
        text: a.reference.clone(),
        json: json!({
            "deleted": what,
            "reference": a.reference,
            "repository": r.repository(),
            "target": reference,
        }),
    })
}
