//! Every integration test of this crate in one binary, one module per file, so that the
//! crate and its dependencies are linked once instead of once per file (tests/README.md
//! has the measurement). One file: `cargo test -p pqreg-registry --test integration <file>::`.

mod common;

mod blobs;
mod cli;
mod durability;
mod log_submit_fail_closed;
mod manifest_twins;
mod manifests;
mod tlog_api;
mod tlog_boundaries;
mod tlog_search;
mod tlog_submit;
