//! `pqreg-registry`: an OCI distribution-spec v1.1 registry and pqreg's transparency log.
#![forbid(unsafe_code)]
