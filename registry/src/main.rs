//! The `pqreg-registry` binary: `serve`, `check-config`, `gc`, `scrub`, `log-key`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pqreg_registry::config::Config;

/// An OCI distribution-spec v1.1 registry (see spec/api.md).
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// TOML configuration file (keys in spec/api.md; PQREG_REGISTRY__<KEY> overrides).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the registry (defaults: 127.0.0.1:5000, $XDG_DATA_HOME/pqreg-registry).
    Serve {
        /// Address to listen on (overrides `listen`).
        #[arg(long)]
        listen: Option<String>,
        /// Data directory (overrides `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Refuse writes (overrides `read_only`).
        #[arg(long)]
        read_only: bool,
    },
    /// Check the configuration and print it, as it would be used, in TOML.
    CheckConfig,
    /// Collect garbage once and exit (the server must be stopped: the data directory is
    /// opened exclusively; a running server collects every `gc.interval_secs`).
    Gc {
        /// Data directory (overrides `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Grace period in seconds (overrides `gc.grace_period_secs`).
        #[arg(long)]
        grace_period_secs: Option<u64>,
    },
    /// Re-hash every stored blob; move those whose bytes do not match their digest to
    /// `<data-dir>/quarantine/` and report which repositories, manifests and tags use them
    /// (the server must be stopped, as for `gc`). Exit codes: 0 every blob matched, 3 corrupt
    /// blobs were found, 1 the scrub could not finish, 2 usage.
    Scrub {
        /// Data directory (overrides `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Report format.
        #[arg(short, long, value_enum, default_value = "text")]
        output: Format,
        /// Report corrupt blobs but leave them in place.
        #[arg(long)]
        keep: bool,
    },
    /// Print the log's verifier keys (Ed25519, then ML-DSA-44), generating the keys in
    /// `<data-dir>/log/keys` if they do not exist yet.
    LogKey {
        /// Data directory (overrides `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// Report formats.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// Human-readable.
    Text,
    /// One JSON object (`pqreg_registry::scrub::ScrubReport`).
    Json,
}

fn init_logs(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.log_format == "json" {
        b.json().init();
    } else {
        b.init();
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut cfg = Config::load(cli.config.as_deref(), std::env::vars())
        .context("fix the configuration file or the PQREG_REGISTRY__* variables")?;
    match cli.cmd {
        Cmd::Serve {
            listen,
            data_dir,
            read_only,
        } => {
            if let Some(l) = listen {
                cfg.listen = l;
            }
            if let Some(d) = data_dir {
                cfg.data_dir = d;
            }
            cfg.read_only |= read_only;
            cfg.validate()?;
            init_logs(&cfg);
            pqreg_registry::serve(cfg)
        }
        Cmd::LogKey { data_dir } => {
            if let Some(d) = data_dir {
                cfg.data_dir = d;
            }
            let dir = cfg.data_dir.join("log");
            std::fs::create_dir_all(&dir)?;
            let keys =
                pqreg_registry::tlog::load_or_generate_keys(&dir.join("keys"), &cfg.log_origin())?;
            print!("{}", keys.verifier_keys());
            Ok(())
        }
        Cmd::CheckConfig => {
            print!("{}", toml::to_string(&cfg)?);
            Ok(())
        }
        Cmd::Scrub {
            data_dir,
            output,
            keep,
        } => {
            if let Some(d) = data_dir {
                cfg.data_dir = d;
            }
            init_logs(&cfg);
            let st = pqreg_registry::open_state(cfg)?;
            let report = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(pqreg_registry::scrub::scrub(&st, keep))
                .context("the scrub did not finish; fix the error and run it again")?;
            match output {
                Format::Text => print!("{}", pqreg_registry::scrub::render_text(&report)),
                Format::Json => println!("{}", serde_json::to_string(&report)?),
            }
            if report.corrupt.is_empty() {
                Ok(())
            } else {
                drop(st);
                std::process::exit(pqreg_registry::scrub::EXIT_CORRUPT)
            }
        }
        Cmd::Gc {
            data_dir,
            grace_period_secs,
        } => {
            if let Some(d) = data_dir {
                cfg.data_dir = d;
            }
            if let Some(g) = grace_period_secs {
                cfg.gc.grace_period_secs = g;
            }
            init_logs(&cfg);
            let st = pqreg_registry::open_state(cfg)?;
            let report = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(pqreg_registry::gc::collect(&st))?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
    }
}
