//! `pqreg logout`: removes a registry's credentials.

use serde_json::json;

use crate::cli::RegistryArg;
use crate::common::{Outcome, registry_arg};
use pqreg::auth::AuthEnv;

/// `pqreg logout REGISTRY`.
pub(crate) fn run(a: &RegistryArg) -> crate::common::Result<Outcome> {
    let host = registry_arg(&a.registry)?;
    let env = AuthEnv::from_process_env();
    let removed = env.logout(&host)?;
    if removed {
        eprintln!("pqreg: removed credentials for {host}");
    } else {
        eprintln!("pqreg: not logged in to {host}");
    }
    Ok(Outcome {
        text: String::new(),
        json: json!({"registry": host, "removed": removed}),
    })
}
