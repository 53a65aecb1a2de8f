//! A progress line on stderr for commands that take a while: records and bytes so far, and the
//! share done when the size is known (`export`, `import`), or items done of a known number
//! (`replay --db`). Drawn only when
//! stderr is a terminal, so logs, pipes and tests see just the summary the command prints.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

/// How often the line is redrawn at most.
const REDRAW: Duration = Duration::from_millis(100);

/// One progress line, redrawn in place.
pub struct Progress {
    label: &'static str,
    /// The bytes there are to go through, when known.
    total: Option<u64>,
    /// Whether to draw at all.
    shown: bool,
    /// When the line was last drawn; `None` before the first time.
    drawn: Option<Instant>,
}

impl Progress {
    /// A progress line for `label` (`exporting`), of `total` bytes if known.
    pub fn new(label: &'static str, total: Option<u64>) -> Progress {
        Progress {
            label,
            total,
            shown: std::io::stderr().is_terminal(),
            drawn: None,
        }
    }

    /// Reports `records` records and `bytes` bytes done.
    pub fn update(&mut self, records: u64, bytes: u64) {
        let mib = bytes as f64 / (1u64 << 20) as f64;
        let share = match self.total {
            Some(total) if total > 0 => format!(" ({:.0}%)", bytes as f64 * 100.0 / total as f64),
            _ => String::new(),
        };
        self.draw(|| format!("{records} records, {mib:.1} MiB{share}"));
    }

    /// Reports `done` of `total` `items` (`instances`).
    pub fn count(&mut self, done: u64, total: u64, items: &str) {
        let share = done as f64 * 100.0 / total.max(1) as f64;
        self.draw(|| format!("{done} of {total} {items} ({share:.0}%)"));
    }

    /// Redraws the line with `text` after the label, unless it was drawn very recently.
    fn draw(&mut self, text: impl FnOnce() -> String) {
        if !self.shown || self.drawn.is_some_and(|at| at.elapsed() < REDRAW) {
            return;
        }
        self.drawn = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}: {}", self.label, text());
        let _ = err.flush();
    }

    /// Clears the line, so what is printed next starts on a clean one.
    pub fn finish(&mut self) {
        if self.drawn.take().is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}
