//! The `pqreg` command: parses the command line, runs the library, prints data on stdout
//! and messages on stderr, and exits with the code of `client/EXIT_CODES.md`.
//!
//! anyhow is used here only; each error is mapped to an exit code by the typed error it
//! carries, and printed with what to do next.

mod cli;
mod log_cmd;
mod model_cmd;
mod previous;
mod proof_cmd;
mod remote_cmd;
mod signals;

use std::io::{BufRead as _, Write as _};
use std::process::ExitCode as ProcessExit;

use anyhow::Context as _;
use clap::{Parser as _, ValueEnum as _};
use serde_json::json;

use cli::{Cli, Command, KeyAlg, KeygenArgs, Output, RecipientsCommand};
use pqreg::auth::{self, AuthEnv, Credential, Source};
use pqreg::exit::{self, ExitCode};
use pqreg::keyfile::{self, KeyKind};
use pqreg::paths::Paths;
use pqreg::reference::{self, Reference};
use pqreg_spec::keys::{KemAlgorithm, SignatureAlgorithm};

/// What a successful command prints: text for people, JSON for machines.
pub(crate) struct Outcome {
    pub(crate) text: String,
    pub(crate) json: serde_json::Value,
}

/// An error that knows its exit code and what the user should do.
#[derive(Debug)]
struct Failure {
    code: ExitCode,
    message: String,
    hint: Option<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub(crate) fn fail(
    code: ExitCode,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> anyhow::Error {
    Failure {
        code,
        message: message.into(),
        hint: Some(hint.into()),
    }
    .into()
}

fn main() -> ProcessExit {
    // clap exits 2 on usage errors and 0 for --help/--version, as EXIT_CODES.md says.
    let cli = Cli::parse();
    let output = cli.output;
    if let Err(e) = signals::install(output) {
        print_error(
            output,
            exit::ERROR,
            &format!("installing the SIGINT/SIGTERM/SIGHUP handlers: {e}"),
            exit::ERROR.action,
        );
        return ProcessExit::from(exit::ERROR.code);
    }
    match run(cli) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            let written = match output {
                Output::Text if out.text.is_empty() => Ok(()),
                Output::Text => writeln!(stdout, "{}", out.text),
                Output::Json => writeln!(stdout, "{}", out.json),
            };
            if written.is_err() {
                return ProcessExit::from(exit::ERROR.code);
            }
            ProcessExit::SUCCESS
        }
        Err(err) => {
            let (code, hint) = classify(&err);
            print_error(output, code, &message(&err), &hint);
            ProcessExit::from(code.code)
        }
    }
}

/// Prints an error as client/EXIT_CODES.md describes: two lines on stderr, or one JSON
/// document on stdout.
pub(crate) fn print_error(output: Output, code: ExitCode, message: &str, hint: &str) {
    match output {
        Output::Text => {
            eprintln!("pqreg: error: {message}");
            eprintln!("pqreg: hint: {hint}");
        }
        Output::Json => println!(
            "{}",
            json!({"error": {"code": code.code, "name": code.name, "message": message, "hint": hint}})
        ),
    }
}

/// The error and its causes, joined with ": ", each cause left out when the message so far
/// already says it: many of our errors print their source in their own message, so
/// anyhow's `{:#}` said "No space left on device (os error 28)" twice.
fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The exit code and the "what to do next" line for an error.
fn classify(err: &anyhow::Error) -> (ExitCode, String) {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            let hint = f.hint.clone().unwrap_or_else(|| f.code.action.to_owned());
            return (f.code, hint);
        }
        let code = if let Some(e) = cause.downcast_ref::<pqreg::Error>() {
            Some(e.exit_code())
        } else if let Some(e) = cause.downcast_ref::<pqreg::transfer::TransferError>() {
            Some(e.exit_code())
        } else if cause.downcast_ref::<reference::ReferenceError>().is_some() {
            Some(exit::USAGE)
        } else if let Some(e) = cause.downcast_ref::<pqreg::keyfile::KeyFileError>() {
            Some(pqreg::Error::keyfile_exit_code(e))
        } else if let Some(e) = cause.downcast_ref::<auth::AuthError>() {
            Some(pqreg::Error::auth_exit_code(e))
        } else if cause.downcast_ref::<pqreg_spec::keys::KeyError>().is_some() {
            Some(exit::ERROR)
        } else {
            cause
                .downcast_ref::<pqreg_spec::Error>()
                .map(pqreg::Error::spec_exit_code)
        };
        if let Some(code) = code {
            return (code, code.action.to_owned());
        }
    }
    (exit::ERROR, exit::ERROR.action.to_owned())
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Env => env(),
        Command::Login(a) => login(&a.registry, &a.username, a.password_stdin),
        Command::Logout(a) => logout(&a.registry),
        Command::ExitCodes => Ok(Outcome {
            text: exit::markdown().trim_end().to_owned(),
            json: json!(
                exit::ALL
                    .iter()
                    .chain(&exit::SIGNALS)
                    .map(|c| json!({"code": c.code, "name": c.name, "meaning": c.meaning, "action": c.action}))
                    .collect::<Vec<_>>()
            ),
        }),
        Command::Keygen(a) => keygen(&a),
        Command::Push(a) => remote_cmd::push(&a),
        Command::Pull(a) => remote_cmd::pull(
            &a.reference,
            Some(&a.dir),
            a.identity.as_deref(),
            a.policy.as_deref(),
            a.passphrase_file.as_deref(),
            a.oms_signature.as_deref(),
            remote_cmd::PullFlags {
                cache: a.cache,
                verify_plaintext: a.verify_plaintext,
                allow_rollback: a.allow_rollback,
            },
        ),
        Command::Verify(a) if a.offline => proof_cmd::verify_offline(
            &a.reference,
            a.layout.as_deref().unwrap_or(std::path::Path::new(".")),
            a.proof.as_deref().unwrap_or(std::path::Path::new("-")),
            a.identity.as_deref(),
            a.policy.as_deref(),
        ),
        Command::Verify(a) => remote_cmd::pull(
            &a.reference,
            None,
            a.identity.as_deref(),
            a.policy.as_deref(),
            None,
            None,
            remote_cmd::PullFlags {
                allow_rollback: a.allow_rollback,
                ..remote_cmd::PullFlags::default()
            },
        ),
        Command::Inspect(a) => model_cmd::inspect_cmd(&a),
        Command::Recipients(RecipientsCommand::Add(a)) => model_cmd::recipients_cmd(&a, true),
        Command::Recipients(RecipientsCommand::Remove(a)) => model_cmd::recipients_cmd(&a, false),
        Command::Copy(a) => model_cmd::copy_cmd(&a),
        Command::Log(cmd) => log_cmd::run(&cmd),
    }
}

pub(crate) fn parse_ref(s: &str) -> anyhow::Result<Reference> {
    let default = std::env::var("PQREG_REGISTRY")
        .ok()
        .filter(|s| !s.is_empty());
    Reference::parse_with_default_registry(s, default.as_deref()).map_err(|e| {
        fail(
            exit::USAGE,
            e.to_string(),
            "Write references as host[:port]/repo[:tag][@sha256:<64 hex>], e.g. localhost:5000/org/model:v1.",
        )
    })
}

/// Accepts `host[:port]` and, as docker does, `https://host[:port][/…]`.
pub(crate) fn registry_arg(s: &str) -> anyhow::Result<String> {
    let host = auth::normalize_host(s);
    reference::validate_registry(host).map_err(|e| {
        fail(
            exit::USAGE,
            e.to_string(),
            "Give the registry as host[:port], e.g. localhost:5000.",
        )
    })?;
    Ok(host.to_owned())
}

fn env() -> anyhow::Result<Outcome> {
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

fn login(registry: &str, username: &str, password_stdin: bool) -> anyhow::Result<Outcome> {
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

fn logout(registry: &str) -> anyhow::Result<Outcome> {
    let host = registry_arg(registry)?;
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

fn keygen(a: &KeygenArgs) -> anyhow::Result<Outcome> {
    let kind = match (a.sign, a.alg) {
        (true, None | Some(KeyAlg::MlDsa65)) => KeyKind::Sign(SignatureAlgorithm::MlDsa65),
        (true, Some(KeyAlg::MlDsa87)) => KeyKind::Sign(SignatureAlgorithm::MlDsa87),
        (true, Some(KeyAlg::EcdsaP256)) => KeyKind::Sign(SignatureAlgorithm::EcdsaP256Sha256),
        (false, None | Some(KeyAlg::XWing)) => KeyKind::Recipient(KemAlgorithm::XWing),
        (false, Some(KeyAlg::MlKem1024)) => KeyKind::Recipient(KemAlgorithm::MlKem1024),
        (sign, Some(alg)) => {
            let (flag, allowed) = if sign {
                ("--sign", "ml-dsa-65, ml-dsa-87, ecdsa-p256")
            } else {
                ("--recipient", "x-wing, ml-kem-1024")
            };
            return Err(fail(
                exit::USAGE,
                format!(
                    "--alg {} is not a {flag} algorithm",
                    alg.to_possible_value()
                        .map(|v| v.get_name().to_owned())
                        .unwrap_or_default()
                ),
                format!("With {flag}, --alg is one of: {allowed}."),
            ));
        }
    };
    let prefix = a.out.clone().unwrap_or_else(|| {
        std::path::PathBuf::from(if a.sign {
            "pqreg-sign"
        } else {
            "pqreg-recipient"
        })
    });
    let passphrase = a
        .passphrase_file
        .as_deref()
        .map(keyfile::read_passphrase)
        .transpose()?;
    let g = keyfile::generate(kind, &prefix, passphrase.as_ref().map(|p| &p[..]), a.force)?;
    eprintln!(
        "pqreg: wrote {} key {} (private, 0600{}) and {}",
        kind.alg_name(),
        g.private_path.display(),
        if passphrase.is_some() {
            ", encrypted"
        } else {
            ""
        },
        g.public_path.display()
    );
    Ok(Outcome {
        text: g.key_id.to_string(),
        json: json!({
            "key_id": g.key_id.to_string(),
            "alg": kind.alg_name(),
            "kind": if a.sign { "sign" } else { "recipient" },
            "private_key": g.private_path,
            "public_key": g.public_path,
            "encrypted": passphrase.is_some(),
        }),
    })
}
