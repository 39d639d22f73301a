//! `pqreg ls HOST` lists a registry's repositories (its catalog); `pqreg ls HOST/REPO`
//! the repository's tags. Text: one name a line on stdout; JSON: client/OUTPUT.md.

use serde_json::json;

use crate::cli::LsArgs;
use crate::common::{Outcome, connect, fail, parse_ref, registry_arg};
use pqreg::exit;
use pqreg::reference::Reference;
use pqreg::transfer::DEFAULT_CONCURRENCY;

/// `pqreg ls HOST[/REPO]`.
pub(crate) fn run(a: &LsArgs) -> crate::common::Result<Outcome> {
    let target = a.target.trim_end_matches('/');
    let target = target
        .strip_prefix("https://")
        .or_else(|| target.strip_prefix("http://"))
        .unwrap_or(target);
    if !target.contains('/') {
        let host = registry_arg(target)?;
        // Any repository name locates the registry; the catalog is not per repository.
        let probe = Reference::parse(&format!("{host}/catalog")).map_err(|e| {
            fail(
                exit::USAGE,
                e.to_string(),
                "Give the registry as host[:port].",
            )
        })?;
        let repos = connect(&probe, DEFAULT_CONCURRENCY)?.catalog()?;
        return Ok(Outcome {
            text: repos.join("\n"),
            json: json!({ "registry": host, "repositories": repos }),
        });
    }
    let r = parse_ref(target)?;
    if r.digest().is_some() || r.tag().is_some() {
        return Err(fail(
            exit::USAGE,
            format!("`pqreg ls` takes a registry or a repository, not a version: {target}"),
            "Drop the :tag or @digest (e.g. `pqreg ls localhost:5000/org/model`); `pqreg inspect REF` shows one version.",
        ));
    }
    let tags = connect(&r, DEFAULT_CONCURRENCY)?.list_tags(r.repository())?;
    Ok(Outcome {
        text: tags.join("\n"),
        json: json!({
            "registry": r.registry(),
            "repository": r.repository(),
            "tags": tags,
        }),
    })
}
