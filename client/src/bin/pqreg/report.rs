//! How a failed command is reported: the exit code of client/EXIT_CODES.md (a refusal of
//! the binary carries its own; a library error's is [`pqreg::Error::exit_code`]), and the
//! error printed with what to do next.

use serde_json::json;

use crate::cli::Output;
use crate::common::CliError;
use pqreg::exit::{self, ExitCode};

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

/// `err`'s message and its causes, joined with ": ", each cause left out when the message
/// so far already says it: many of our errors print their source in their own message,
/// so anyhow's `{:#}` said "No space left on device (os error 28)" twice.
pub(crate) fn message(err: &CliError) -> String {
    let chain: Vec<String> = match err {
        CliError::Failure(f) => vec![f.message.clone()],
        CliError::Lib(e) => {
            let mut v = Vec::new();
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
            while let Some(c) = cause {
                v.push(c.to_string());
                cause = c.source();
            }
            v
        }
        CliError::Other(e) => e.chain().map(ToString::to_string).collect(),
    };
    let mut out = String::new();
    for text in chain {
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
pub(crate) fn classify(err: &CliError) -> (ExitCode, String) {
    let code = match err {
        CliError::Failure(f) => return (f.code, f.hint.clone()),
        CliError::Lib(e) => e.exit_code(),
        CliError::Other(_) => exit::ERROR,
    };
    (code, code.action.to_owned())
}
