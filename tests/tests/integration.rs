//! Every integration test of this crate in one binary, one module per file, so that the
//! crate and its dependencies are linked once instead of once per file (tests/README.md
//! has the measurement). One file: `cargo test -p pqreg-tests --test integration <file>::`.

mod auth_clients;
mod auth_limits;
mod auth_matrix;
mod blob_integrity;
mod blob_sendfile;
mod concurrency;
mod crash_kill9;
mod gc_online;
mod hostile_input;
mod load_mixed;
mod log_crash_kill9;
mod log_private_names;
mod log_tag_changes;
mod manifest_hostile;
mod memory_bounded;
mod oci_conformance_discovery;
mod oci_conformance_management;
mod oci_conformance_pull;
mod oci_conformance_push;
mod oci_conformance_sha512;
mod oci_conformance_upstream;
mod ops_endpoints;
mod oras_roundtrip;
mod restart_persistence;
mod scrub;
mod skopeo_copy;
mod small_body_limits;
mod storage_full;
mod tag_rules;
mod tls;
mod upload_limits;
