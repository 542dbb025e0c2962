//! A one-line progress bar on stderr for long `privgate mask` runs.
//!
//! Hand-rolled rather than a dependency: one line redrawn at most five times a second
//! with bytes done (of the total when the input's size is known) and the rate. It draws
//! only when stderr is a terminal and the run is not quiet, and erases itself at the end
//! so the summary line stands alone. It shows byte counts only, never data. Used by
//! `mask_cmd.rs`.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

/// Inputs smaller than this finish too fast for a bar to help.
const MIN_BYTES: u64 = 16 * 1024 * 1024;
const REDRAW: Duration = Duration::from_millis(200);
const WIDTH: usize = 30;

/// The bar's state.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    total: Option<u64>,
    start: Instant,
    last: Instant,
    drawn: bool,
}

impl Progress {
    /// A bar for an input of `total` bytes (if known); inert unless stderr is a terminal.
    pub fn new(total: Option<u64>, quiet: bool) -> Progress {
        let now = Instant::now();
        let big = total.is_none_or(|t| t >= MIN_BYTES);
        Progress {
            enabled: !quiet && big && io::stderr().is_terminal(),
            total,
            start: now,
            last: now,
            drawn: false,
        }
    }

    /// Records that `done` bytes were read; redraws when due.
    pub fn update(&mut self, done: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.last) < REDRAW {
            return;
        }
        self.last = now;
        let secs = now.duration_since(self.start).as_secs_f64().max(1e-9);
        let rate = done as f64 / 1e6 / secs;
        let line = match self.total {
            Some(total) if total > 0 => {
                let frac = (done as f64 / total as f64).clamp(0.0, 1.0);
                let filled = (frac * WIDTH as f64) as usize;
                format!(
                    "[{}{}] {:>3.0}% {:.1}/{:.1} MB {rate:.1} MB/s",
                    "#".repeat(filled),
                    "-".repeat(WIDTH - filled),
                    frac * 100.0,
                    done as f64 / 1e6,
                    total as f64 / 1e6
                )
            }
            _ => format!("{:.1} MB {rate:.1} MB/s", done as f64 / 1e6),
        };
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{line}");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Erases the bar.
    pub fn clear(&mut self) {
        if self.drawn {
            let mut err = io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}
