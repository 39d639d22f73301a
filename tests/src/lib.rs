//! Helpers shared by the end-to-end tests in `tests/tests/`: a real `pqreg-registry` process
//! ([`server`]), a byte-exact HTTP client ([`http`]), OCI objects built from first principles
//! ([`oci`]), an OCI image layout writer ([`layout`]), signed log submissions ([`log`]) and
//! third-party tool discovery ([`tools`]).
#![forbid(unsafe_code)]

pub mod http;
pub mod layout;
pub mod log;
pub mod oci;
pub mod server;
pub mod tools;

pub use http::{Client, Response, relative, with_query};
pub use server::{Killer, Registry};
