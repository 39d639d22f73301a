//! `pqreg`: the client library behind the `pqreg` command.
#![forbid(unsafe_code)]
