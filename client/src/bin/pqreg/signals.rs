//! SIGINT, SIGTERM and SIGHUP: the staging directory of a pull holds decrypted weights, so
//! before the process ends it is removed (`pqreg::unpack::remove_staging_dirs`), then the
//! process exits with 128 + the signal's number (client/EXIT_CODES.md: 130, 143, 129), as
//! a shell reports a process the signal killed.
//!
//! The handlers are installed before any command runs, on a thread of their own with a
//! one-thread tokio runtime (tokio's signal streams; no unsafe code). SIGKILL cannot be
//! caught: what a killed pull leaves, the next pull of the same output removes
//! (client/src/unpack/stage.rs).

use tokio::signal::unix::{SignalKind, signal};

use crate::cli::Output;
use pqreg::exit::{self, ExitCode};

/// Installs the handlers; a signal that arrives before this returns has its default
/// action (the process ends, and nothing was staged yet).
pub(crate) fn install(output: Output) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let (mut hup, mut int, mut term) = rt.block_on(async {
        Ok::<_, std::io::Error>((
            signal(SignalKind::hangup())?,
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    })?;
    std::thread::Builder::new()
        .name("pqreg-signals".into())
        .spawn(move || {
            let (code, name) = rt.block_on(async move {
                tokio::select! {
                    _ = hup.recv() => (exit::HANGUP, "SIGHUP"),
                    _ = int.recv() => (exit::INTERRUPTED, "SIGINT"),
                    _ = term.recv() => (exit::TERMINATED, "SIGTERM"),
                }
            });
            stop(output, code, name)
        })?;
    Ok(())
}

fn stop(output: Output, code: ExitCode, name: &str) -> ! {
    let removed = pqreg::unpack::remove_staging_dirs();
    let message = if removed > 0 {
        format!("stopped by {name}; the partial pull was removed, nothing was written")
    } else {
        format!("stopped by {name}")
    };
    crate::report::print_error(output, code, &message, code.action);
    std::process::exit(i32::from(code.code))
}
