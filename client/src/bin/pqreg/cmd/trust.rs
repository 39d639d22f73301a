//! `pqreg trust init|add-signer|add-log|show|check`: the trust policy without writing TOML
//! by hand. The edits are the library's (`pqreg::trust`); this file reads arguments,
//! fetches the log's keys, asks on a terminal, and prints.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use serde_json::{Value, json};

use crate::cli::{TrustAddLogArgs, TrustAddSignerArgs, TrustCheckArgs, TrustPolicyArg};
use crate::common::{
    Outcome, fail, load_policy, parse_ref, policy_path, registry_arg, require_rule,
};
use pqreg::exit;
use pqreg::paths::Paths;
use pqreg::tlog::LogClient;
use pqreg::trust::{self, PolicyFile};
use pqreg_spec::policy::{Policy, PolicyKey, algorithm_name};

fn path_of(a: &TrustPolicyArg) -> std::path::PathBuf {
    policy_path(a.policy.as_deref(), &Paths::from_process_env())
}

/// `pqreg trust init`.
pub(crate) fn init(a: &TrustPolicyArg) -> crate::common::Result<Outcome> {
    let path = path_of(a);
    trust::init(&path).map_err(pqreg::Error::from)?;
    eprintln!(
        "pqreg: created {} (mode 0600); next: `pqreg trust add-signer` and `pqreg trust add-log`",
        path.display()
    );
    Ok(Outcome {
        text: path.display().to_string(),
        json: json!({"policy": path, "created": true}),
    })
}

/// `pqreg trust add-signer NAME PUB --repos GLOB...`.
pub(crate) fn add_signer(a: &TrustAddSignerArgs) -> crate::common::Result<Outcome> {
    let path = path_of(&a.policy);
    let pem = std::fs::read_to_string(&a.public_key).map_err(|e| {
        fail(
            exit::ERROR,
            format!("reading {}: {e}", a.public_key.display()),
            "Give the signer's public key file (KEY.pub from `pqreg keygen --sign`).",
        )
    })?;
    let mut file = PolicyFile::open(&path).map_err(pqreg::Error::from)?;
    let added = file
        .add_signer(&a.name, &a.public_key, &pem, &a.repos, a.allow_classical)
        .map_err(pqreg::Error::from)?;
    file.save().map_err(pqreg::Error::from)?;
    let alg = algorithm_name(added.alg);
    eprintln!(
        "pqreg: {} now trusts {} ({alg}, {}) to sign {}",
        path.display(),
        a.name,
        added.key_id,
        a.repos.join(", ")
    );
    Ok(Outcome {
        text: added.key_id.to_string(),
        json: json!({
            "policy": path,
            "name": a.name,
            "key_id": added.key_id.to_string(),
            "alg": alg,
            "repositories": a.repos,
        }),
    })
}

/// `pqreg trust add-log HOST [--fingerprint F]...`.
pub(crate) fn add_log(a: &TrustAddLogArgs) -> crate::common::Result<Outcome> {
    let path = path_of(&a.policy);
    let host = registry_arg(&a.host)?;
    // Fail on a broken policy before asking anyone anything.
    let mut file = PolicyFile::open(&path).map_err(pqreg::Error::from)?;
    let cred = pqreg::auth::AuthEnv::from_process_env()
        .lookup(&host)?
        .map(|(c, _)| c);
    let client = LogClient::for_registry(&host, cred).map_err(pqreg::Error::from)?;
    let url = format!("{}/v1/keys", client.base());
    let keys = client.keys().map_err(pqreg::Error::from)?;
    let origin = trust::log_origin(&url, &keys).map_err(pqreg::Error::from)?;
    let fingerprints: Vec<String> = keys.iter().map(|k| trust::fingerprint(k)).collect();
    eprintln!("pqreg: log {origin:?} at {url} serves these keys:");
    for (k, f) in keys.iter().zip(&fingerprints) {
        eprintln!("  {f}  {k}");
    }
    if !a.fingerprint.is_empty() {
        trust::check_fingerprints(&keys, &a.fingerprint).map_err(pqreg::Error::from)?;
    } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        eprint!(
            "pqreg: compare these fingerprints with the ones the registry's operator gave you. Pin them in {}? Type yes: ",
            path.display()
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| anyhow::Error::from(e).context("reading the answer from the terminal"))?;
        if answer.trim() != "yes" {
            return Err(fail(
                exit::ERROR,
                "not pinned: the answer was not yes",
                "Run the command again with --fingerprint F for each key once you have checked them.",
            ));
        }
    } else {
        return Err(fail(
            exit::USAGE,
            "not pinned: no --fingerprint given and no terminal to ask on; keys fetched over the network are not trusted unchecked",
            format!(
                "Get the fingerprints from the registry's operator and pass each with --fingerprint (printed above: {}).",
                fingerprints.join(" ")
            ),
        ));
    }
    file.add_log(&host, &url, &keys)
        .map_err(pqreg::Error::from)?;
    file.save().map_err(pqreg::Error::from)?;
    eprintln!("pqreg: pinned log {origin:?} in {}", path.display());
    Ok(Outcome {
        text: origin.clone(),
        json: json!({
            "policy": path,
            "origin": origin,
            "registry": host,
            "keys": keys,
            "fingerprints": fingerprints,
        }),
    })
}

fn key_label(k: &PolicyKey) -> String {
    let name = k.name.as_deref().unwrap_or("(unnamed)");
    let pk = if k.public_key.is_some() {
        ""
    } else {
        ", no public key in the policy"
    };
    format!("{name} ({}, {}{pk})", algorithm_name(k.alg), k.id)
}

fn key_json(k: &PolicyKey) -> Value {
    json!({
        "name": k.name,
        "id": k.id.to_string(),
        "alg": algorithm_name(k.alg),
        "public_key_in_policy": k.public_key.is_some(),
    })
}

/// `30d`, `12h`, `90m` or `3600s`, the policy's own spelling of a duration.
fn duration(secs: u64) -> String {
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs.is_multiple_of(n) {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

fn log_json(l: &pqreg_spec::policy::PolicyLog) -> Value {
    let keys: Vec<String> = l.verifier.log_keys.iter().map(|k| k.to_string()).collect();
    json!({
        "origin": l.verifier.origin,
        "registries": l.registries,
        "url": l.url,
        "keys": keys,
        "fingerprints": keys.iter().map(|k| trust::fingerprint(k)).collect::<Vec<_>>(),
        "witnesses": l.verifier.witnesses.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        "quorum": l.verifier.witness_quorum,
    })
}

fn log_text(l: &pqreg_spec::policy::PolicyLog) -> String {
    let fps: Vec<String> = l
        .verifier
        .log_keys
        .iter()
        .map(|k| trust::fingerprint(&k.to_string()))
        .collect();
    format!(
        "{} for {} (keys {}; {} of {} witnesses required{})",
        l.verifier.origin,
        l.registries.join(", "),
        fps.join(", "),
        l.verifier.witness_quorum,
        l.verifier.witnesses.len(),
        l.url
            .as_deref()
            .map(|u| format!("; read from {u}"))
            .unwrap_or_default()
    )
}

fn rule_json(p: &Policy, i: usize) -> Value {
    let r = &p.rules[i];
    json!({
        "rule": i + 1,
        "repositories": r.repositories,
        "signers": r.signers.iter().map(|&k| key_json(&p.keys[k])).collect::<Vec<_>>(),
        "min_algorithm": r.min_algorithm.or(p.min_algorithm).map(algorithm_name).unwrap_or("ml-dsa-44"),
        "require_log": r.require_log.unwrap_or(p.require_log),
        "max_age": r.max_age.or(p.max_age).map(duration),
    })
}

fn rule_text(p: &Policy, i: usize) -> String {
    let r = &p.rules[i];
    let signers: Vec<String> = r.signers.iter().map(|&k| key_label(&p.keys[k])).collect();
    let min = r
        .min_algorithm
        .or(p.min_algorithm)
        .map(algorithm_name)
        .unwrap_or("ml-dsa-44");
    format!(
        "rule {}: {} may be signed by {}; algorithm at least {min}; log {}; max_age {}",
        i + 1,
        r.repositories.join(", "),
        signers.join(", "),
        if r.require_log.unwrap_or(p.require_log) {
            "required"
        } else {
            "not required"
        },
        r.max_age
            .or(p.max_age)
            .map(duration)
            .unwrap_or_else(|| "none".into()),
    )
}

/// `pqreg trust show`.
pub(crate) fn show(a: &TrustPolicyArg) -> crate::common::Result<Outcome> {
    let path = path_of(a);
    let p = load_policy(Some(&path), &Paths::from_process_env())?;
    let mut t = vec![format!("policy {}", path.display())];
    t.push("keys:".into());
    t.extend(p.keys.iter().map(|k| format!("  {}", key_label(k))));
    t.push("rules:".into());
    t.extend((0..p.rules.len()).map(|i| format!("  {}", rule_text(&p, i))));
    t.push("logs:".into());
    t.extend(p.logs.iter().map(|l| format!("  {}", log_text(l))));
    t.push("mirrors:".into());
    t.extend(
        p.mirrors
            .iter()
            .map(|m| format!("  models under {} may be signed for {}", m.pull, m.signed)),
    );
    Ok(Outcome {
        text: t.join("\n"),
        json: json!({
            "policy": path,
            "require_log": p.require_log,
            "min_algorithm": p.min_algorithm.map(algorithm_name),
            "max_age": p.max_age.map(duration),
            "keys": p.keys.iter().map(key_json).collect::<Vec<_>>(),
            "rules": (0..p.rules.len()).map(|i| rule_json(&p, i)).collect::<Vec<_>>(),
            "logs": p.logs.iter().map(log_json).collect::<Vec<_>>(),
            "mirrors": p.mirrors.iter().map(|m| json!({"pull": m.pull, "signed": m.signed})).collect::<Vec<_>>(),
        }),
    })
}

/// `pqreg trust check REF`: exit 12 (with the gap named) when no rule covers REF;
/// otherwise what a pull requires, and `problems` a pull would run into.
pub(crate) fn check(a: &TrustCheckArgs) -> crate::common::Result<Outcome> {
    let r = parse_ref(&a.reference)?;
    let path = path_of(&a.policy);
    let p = load_policy(Some(&path), &Paths::from_process_env())?;
    let repo = r.name();
    require_rule(&p, &path, &repo)?;
    let rules = trust::covering_rules(&p, &repo);
    let log_required = p.log_required(&repo);
    let logs: Vec<_> = p
        .logs
        .iter()
        .filter(|l| l.vouches_for(r.registry()))
        .collect();
    let mirrors: Vec<String> = p.signed_repositories(&repo).into_iter().skip(1).collect();
    let max_age = p.max_age(&repo).map(duration);
    let mut problems = Vec::new();
    if log_required && logs.is_empty() {
        problems.push(format!(
            "the log is required but no [[logs]] entry vouches for {}: a pull fails with exit 13; pin it with `pqreg trust add-log {}`",
            r.registry(),
            r.registry()
        ));
    }
    if p.keys_for(&repo).iter().all(|k| k.public_key.is_none()) {
        problems.push(
            "no signer of these rules has a public key in the policy: a pull fails with exit 11"
                .into(),
        );
    }
    if logs.iter().any(|l| l.verifier.witness_quorum == 0) {
        problems.push(
            "no witness cosignature is required: a split view of the log would go unnoticed".into(),
        );
    }
    let mut t = vec![format!("{repo} under policy {}:", path.display())];
    t.extend(rules.iter().map(|&i| format!("  {}", rule_text(&p, i))));
    t.push(format!(
        "  a pull requires: a signature by a key one of these rules lists; a log proof: {}",
        if log_required { "yes" } else { "no" }
    ));
    t.extend(logs.iter().map(|l| format!("  log {}", log_text(l))));
    t.push(format!(
        "  max_age: {}",
        max_age
            .clone()
            .unwrap_or_else(|| "none (signatures never go stale)".into())
    ));
    t.push(format!(
        "  statements may also be signed for: {}",
        if mirrors.is_empty() {
            "(no mirror rule)".to_owned()
        } else {
            mirrors.join(", ")
        }
    ));
    t.extend(problems.iter().map(|m| format!("  problem: {m}")));
    Ok(Outcome {
        text: t.join("\n"),
        json: json!({
            "policy": path,
            "repository": repo,
            "rules": rules.iter().map(|&i| rule_json(&p, i)).collect::<Vec<_>>(),
            "log_required": log_required,
            "logs": logs.iter().map(|l| log_json(l)).collect::<Vec<_>>(),
            "max_age": max_age,
            "signed_for": mirrors,
            "problems": problems,
        }),
    })
}
