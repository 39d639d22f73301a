//! `pqreg env`: the paths and configuration pqreg uses.

use anyhow::Context as _;
use serde_json::json;

use crate::common::Outcome;
use pqreg::auth::{self, AuthEnv};
use pqreg::paths::Paths;

/// `pqreg env`.
pub(crate) fn run() -> crate::common::Result<Outcome> {
    let paths = Paths::from_process_env();
    let auth = AuthEnv::from_process_env();
    let registry = std::env::var("PQREG_REGISTRY")
        .ok()
        .filter(|s| !s.is_empty());
    let hosts = auth::configured_hosts(&auth).context("reading the docker config")?;
    let show = |p: &std::path::Path| p.display().to_string();
    let containers = auth.containers_auth.as_deref().map(show);
    let mut text = String::new();
    let mut line = |k: &str, v: &str| text.push_str(&format!("{k:<17}{v}\n"));
    line("config", &show(&paths.config));
    line("cache", &show(&paths.cache));
    line("state", &show(&paths.state));
    let exists = if auth.docker_config.exists() {
        ""
    } else {
        " (does not exist)"
    };
    line(
        "docker-config",
        &format!("{}{exists}", show(&auth.docker_config)),
    );
    line(
        "containers-auth",
        containers
            .as_deref()
            .unwrap_or("(XDG_RUNTIME_DIR is not set)"),
    );
    line(
        "default-registry",
        registry.as_deref().unwrap_or("(none: set PQREG_REGISTRY)"),
    );
    let creds: Vec<String> = hosts.iter().map(|(h, s)| format!("{h} ({s})")).collect();
    line(
        "credentials",
        &if creds.is_empty() {
            "(none)".to_owned()
        } else {
            creds.join(", ")
        },
    );
    Ok(Outcome {
        text: text.trim_end().to_owned(),
        json: json!({
            "config": paths.config,
            "cache": paths.cache,
            "state": paths.state,
            "docker_config": auth.docker_config,
            "docker_config_exists": auth.docker_config.exists(),
            "containers_auth": containers,
            "default_registry": registry,
            "credentials": hosts,
        }),
    })
}
