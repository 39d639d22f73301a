//! Progress bars on stderr (indicatif), one per phase of a push or pull: bytes done and
//! total, rate and ETA. Drawn only when stderr is a terminal, the output is text and
//! `--quiet` was not given; otherwise commands get no receiver and the library counts
//! nothing.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Decides once, in main, whether commands draw progress.
pub(crate) fn configure(text_output: bool, quiet: bool) {
    let on = text_output && !quiet && std::io::stderr().is_terminal();
    ENABLED.store(on, Ordering::Relaxed);
}

/// A receiver for one command, or `None` when progress is off.
pub(crate) fn bars() -> Option<Bars> {
    ENABLED.load(Ordering::Relaxed).then(|| Bars {
        current: Mutex::new(None),
    })
}

/// The bar of the current phase.
pub(crate) struct Bars {
    current: Mutex<Option<ProgressBar>>,
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>25} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

impl pqreg::progress::Progress for Bars {
    fn phase(&self, name: &'static str, total: u64) {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(style())
            .with_prefix(name);
        if let Ok(mut c) = self.current.lock()
            && let Some(old) = c.replace(bar)
        {
            old.finish();
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(c) = self.current.lock()
            && let Some(b) = c.as_ref()
        {
            b.inc(n);
        }
    }

    fn finish(&self) {
        if let Ok(mut c) = self.current.lock()
            && let Some(b) = c.take()
        {
            b.finish();
        }
    }
}

impl Drop for Bars {
    /// A command that failed mid-phase leaves no half-drawn bar above its error.
    fn drop(&mut self) {
        if let Ok(mut c) = self.current.lock()
            && let Some(b) = c.take()
        {
            b.abandon();
        }
    }
}
