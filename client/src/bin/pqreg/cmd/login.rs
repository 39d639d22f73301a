//! `pqreg login`: checks credentials with the registry, then stores them where docker
//! does.

use std::io::BufRead as _;

use anyhow::Context as _;
use serde_json::json;

use crate::cli::LoginArgs;
use crate::common::{Outcome, fail, registry_arg};
use pqreg::auth::{AuthEnv, Credential, Source};
use pqreg::exit;

/// `pqreg login REGISTRY -u USER --password-stdin`.
pub(crate) fn run(a: &LoginArgs) -> crate::common::Result<Outcome> {
    let (registry, username, password_stdin) = (&a.registry, &a.username, a.password_stdin);
    let host = registry_arg(registry)?;
    if !password_stdin {
        return Err(fail(
            exit::USAGE,
            "no password given",
            "Pass it on stdin: `printf %s \"$TOKEN\" | pqreg login HOST -u USER --password-stdin` (never as an argument, where shell history and ps would show it).",
        ));
    }
    if username.is_empty() || username.contains(':') {
        return Err(fail(
            exit::USAGE,
            "the user name is empty or contains ':'",
            "Give the user name with -u USER.",
        ));
    }
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(fail(
            exit::USAGE,
            "the password read from stdin is empty",
            "Pipe the password or token into `pqreg login … --password-stdin`.",
        ));
    }
    // Like `docker login`: ask the registry first, store only what it accepts.
    let checked = match pqreg::login_check::check(&host, username, &password) {
        Ok(pqreg::login_check::LoginCheck::Refused(why)) => {
            return Err(fail(
                exit::ERROR,
                format!("{host} refused the credentials of {username}: {why}"),
                "Check the user name and password (or token); nothing was stored.",
            ));
        }
        Ok(c) => c,
        Err(e) => {
            return Err(fail(
                exit::ERROR,
                format!("could not reach {host} to check the credentials: {e}"),
                "Check the registry address and that it is running; nothing was stored.",
            ));
        }
    };
    let env = AuthEnv::from_process_env();
    let cred = Credential::Basic {
        username: username.to_owned(),
        password,
    };
    let source = env.login(&host, &cred)?;
    let stored = match &source {
        Source::File(p) => p.display().to_string(),
        Source::Helper(h) => format!("docker-credential-{h}"),
    };
    let open = checked == pqreg::login_check::LoginCheck::Open;
    if open {
        eprintln!("pqreg: stored credentials for {host} in {stored} ({host} asks for none)");
    } else {
        eprintln!("pqreg: {host} accepted the credentials; stored in {stored}");
    }
    Ok(Outcome {
        text: String::new(),
        json: json!({"registry": host, "stored_in": stored, "checked": true, "registry_requires_auth": !open}),
    })
}
