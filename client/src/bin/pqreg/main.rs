//! The `pqreg` command: parses the command line, runs the command, prints data on stdout
//! and messages on stderr, and exits with the code of `client/EXIT_CODES.md`.
//!
//! Layout: `cli` declares every argument, `cmd/` holds one file per command, `common` the
//! helpers commands share, `report` how a failure is printed and which exit code it gets,
//! and `signals` what SIGINT, SIGTERM and SIGHUP do. anyhow is used in this binary only;
//! each error is mapped to an exit code by the typed error it carries.

mod cli;
mod cmd;
mod common;
mod progress;
mod report;
mod signals;

use std::io::Write as _;
use std::process::ExitCode as ProcessExit;

use clap::Parser as _;

use cli::{CacheCommand, Cli, Command, LogCommand, Output, RecipientsCommand, TrustCommand};
use common::Outcome;
use pqreg::exit;
use report::{classify, message, print_error};

fn main() -> ProcessExit {
    // clap exits 2 on usage errors and 0 for --help/--version, as EXIT_CODES.md says.
    let cli = Cli::parse();
    let output = cli.output;
    progress::configure(output == Output::Text, cli.quiet);
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

fn run(cli: Cli) -> crate::common::Result<Outcome> {
    match cli.command {
        Command::Env => cmd::env::run(),
        Command::Login(a) => cmd::login::run(&a),
        Command::Logout(a) => cmd::logout::run(&a),
        Command::ExitCodes => cmd::exit_codes::run(),
        Command::Keygen(a) => cmd::keygen::run(&a),
        Command::Push(a) => cmd::push::run(&a),
        Command::Pull(a) => cmd::pull::run(&a),
        Command::Verify(a) => cmd::verify::run(&a),
        Command::Inspect(a) => cmd::inspect::run(&a),
        Command::Recipients(RecipientsCommand::Add(a)) => cmd::recipients::run(&a, true),
        Command::Recipients(RecipientsCommand::Remove(a)) => cmd::recipients::run(&a, false),
        Command::Copy(a) => cmd::copy::run(&a),
        Command::Ls(a) => cmd::ls::run(&a),
        Command::Tag(a) => cmd::tag::run(&a),
        Command::Delete(a) => cmd::delete::run(&a),
        Command::Cache(CacheCommand::Show) => cmd::cache::show(),
        Command::Cache(CacheCommand::Prune(a)) => cmd::cache::prune(&a),
        Command::Log(LogCommand::Checkpoint(a)) => cmd::log::checkpoint::run(&a),
        Command::Log(LogCommand::Get(a)) => cmd::log::get::run(&a),
        Command::Log(LogCommand::Search(a)) => cmd::log::search::run(&a),
        Command::Log(LogCommand::Verify(a)) => cmd::log::verify::run(&a),
        Command::Log(LogCommand::Monitor(a)) => cmd::log::monitor::run(&a),
        Command::Log(LogCommand::Proof(a)) => cmd::log::proof::run(&a),
        Command::Trust(TrustCommand::Init(a)) => cmd::trust::init(&a),
        Command::Trust(TrustCommand::AddSigner(a)) => cmd::trust::add_signer(&a),
        Command::Trust(TrustCommand::AddLog(a)) => cmd::trust::add_log(&a),
        Command::Trust(TrustCommand::Show(a)) => cmd::trust::show(&a),
        Command::Trust(TrustCommand::Check(a)) => cmd::trust::check(&a),
    }
}
