//! The log lines of one step (or activity run or entity batch), bounded: a guest that logs
//! without limit cannot fill the database or the host's memory.
//!
//! A line longer than [`MAX_LOG_LINE`] is cut and marked; once a step has logged
//! [`MAX_STEP_LOG`] bytes, further lines are dropped and counted in one closing line.

use crate::store::LogLine;
use crate::types::Timestamp;

/// Most bytes of one log line; the rest is cut off and the line marked.
pub const MAX_LOG_LINE: usize = 16 * 1024;
/// Most bytes of log lines one step, activity run or entity batch keeps.
pub const MAX_STEP_LOG: usize = 256 * 1024;

/// The log lines of the current step.
#[derive(Debug, Default)]
pub(crate) struct StepLog {
    lines: Vec<LogLine>,
    bytes: usize,
    dropped_lines: usize,
    dropped_bytes: usize,
}

impl StepLog {
    /// Keeps a line, cut to [`MAX_LOG_LINE`], while the step's budget lasts.
    pub(crate) fn push(&mut self, mut line: LogLine) {
        if self.bytes + line.message.len().min(MAX_LOG_LINE) > MAX_STEP_LOG {
            self.dropped_lines += 1;
            self.dropped_bytes += line.message.len();
            return;
        }
        if line.message.len() > MAX_LOG_LINE {
            let cut = floor_char_boundary(&line.message, MAX_LOG_LINE);
            let rest = line.message.len() - cut;
            line.message.truncate(cut);
            line.message
                .push_str(&format!(" [truncated: {rest} more bytes]"));
        }
        self.bytes += line.message.len();
        self.lines.push(line);
    }

    /// The step's lines, with a closing line counting what was dropped; starts a new step.
    pub(crate) fn take(&mut self, now: Timestamp) -> Vec<LogLine> {
        let mut lines = std::mem::take(&mut self.lines);
        if self.dropped_lines > 0 {
            lines.push(LogLine {
                timestamp: now,
                level: "warn".into(),
                message: format!(
                    "[truncated: {} more log lines ({} bytes) dropped; a step keeps at most {} \
                     KiB of log]",
                    self.dropped_lines,
                    self.dropped_bytes,
                    MAX_STEP_LOG / 1024
                ),
            });
        }
        *self = StepLog::default();
        lines
    }
}

/// The largest index at most `at` that starts a character of `text`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    (0..=at.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(message: String) -> LogLine {
        LogLine {
            timestamp: 1,
            level: "info".into(),
            message,
        }
    }

    #[test]
    fn a_long_line_is_cut_on_a_character_and_marked() {
        let mut log = StepLog::default();
        log.push(line("é".repeat(MAX_LOG_LINE)));
        let lines = log.take(2);
        assert_eq!(lines.len(), 1);
        let message = &lines[0].message;
        assert!(message.starts_with(&"é".repeat(MAX_LOG_LINE / 2)));
        assert!(
            message.ends_with(&format!(" [truncated: {} more bytes]", MAX_LOG_LINE)),
            "{}",
            &message[message.len() - 40..]
        );
    }

    #[test]
    fn past_the_step_budget_lines_are_dropped_and_counted() {
        let mut log = StepLog::default();
        for _ in 0..300 {
            log.push(line("x".repeat(1 << 20)));
        }
        let lines = log.take(2);
        let kept = MAX_STEP_LOG / (MAX_LOG_LINE + " [truncated: 1032192 more bytes]".len());
        assert_eq!(lines.len(), kept + 1);
        let last = &lines[kept];
        assert_eq!(last.level, "warn");
        assert!(
            last.message
                .starts_with(&format!("[truncated: {} more log lines", 300 - kept)),
            "{}",
            last.message
        );
        assert!(log.take(3).is_empty(), "the next step starts afresh");
    }
}
