//! Progress of long transfers, reported per phase (hashing, sealing and uploading on push;
//! downloading and writing, then verifying, on pull). The library only counts bytes; the
//! `pqreg` binary draws them on stderr when it is a terminal (indicatif), and passes
//! nothing in `-o json` mode, with `--quiet` or when stderr is not a terminal.

/// Receives the progress of one command. Called from worker threads; every call must be
/// cheap (an atomic add), as it runs once per chunk.
pub trait Progress: Sync {
    /// A new phase starts: `name` is what is being done, `total` the bytes it will cover.
    fn phase(&self, name: &'static str, total: u64);
    /// `n` more bytes of the current phase are done.
    fn advance(&self, n: u64);
    /// The current phase is over.
    fn finish(&self);
}

/// Reports `phase`/`finish` around `f` when a receiver is given.
pub(crate) fn in_phase<T>(
    p: Option<&dyn Progress>,
    name: &'static str,
    total: u64,
    f: impl FnOnce() -> T,
) -> T {
    if let Some(p) = p {
        p.phase(name, total);
    }
    let out = f();
    if let Some(p) = p {
        p.finish();
    }
    out
}

/// `n` more bytes done, when a receiver is given.
pub(crate) fn advance(p: Option<&dyn Progress>, n: u64) {
    if let Some(p) = p {
        p.advance(n);
    }
}
