//! Every integration test of this crate in one binary, one module per file, so that the
//! crate and its dependencies are linked once instead of once per file (tests/README.md
//! has the measurement). One file: `cargo test -p pqreg --test integration <file>::`.

/// The workspace root, the fixture model and third-party tools: one file for every crate.
#[path = "../../tests/src/tools.rs"]
mod tools;

mod cli_common;
mod log_common;
mod model_common;
mod pack_common;
mod registry_common;

mod cli;
mod cli_copy;
mod cli_crypto_attacks;
mod cli_docker_registry;
mod cli_hostile_answers;
mod cli_hostile_layout;
mod cli_hostile_registry;
mod cli_housekeeping;
mod cli_log;
mod cli_log_name_pins;
mod cli_log_names;
mod cli_login;
mod cli_messages;
mod cli_oms_interop;
mod cli_output_snapshots;
mod cli_pad;
mod cli_policy_checks;
mod cli_pull_leaks;
mod cli_pull_select;
mod cli_push_pull;
mod cli_push_resume;
mod cli_push_reuse;
mod cli_recipients;
mod cli_snapshots;
mod cli_tag_binding;
mod cli_tamper_network;
mod cli_tensor_files;
mod cli_trust;
mod pack_dedup;
mod pack_roundtrip;
mod pack_skopeo;
mod pack_tamper;
mod rewrap_layout;
mod transfer_registry;
