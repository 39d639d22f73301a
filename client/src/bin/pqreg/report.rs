//! How a failed command is reported: the exit code of client/EXIT_CODES.md, chosen by the
//! typed error the anyhow chain carries, and the error printed with what to do next.

use serde_json::json;

use crate::cli::Output;
use crate::common::Failure;
use pqreg::auth;
use pqreg::exit::{self, ExitCode};
use pqreg::reference;

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
pub(crate) fn message(err: &anyhow::Error) -> String {
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
pub(crate) fn classify(err: &anyhow::Error) -> (ExitCode, String) {
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
