//! A progress bar on stderr for long runs; silent when stderr is not a
//! terminal or with `--quiet`, so scripts and pipes see only the output.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Events between two updates of the bar.
const STEP: u64 = 1024;

pub struct Progress {
    bar: Option<ProgressBar>,
    pending: u64,
}

impl Progress {
    /// A bar for `total` events (a counter when the total is unknown).
    pub fn new(total: Option<u64>, quiet: bool, what: &str) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress {
                bar: None,
                pending: 0,
            };
        }
        let bar = match total {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:40}] {pos}/{len} events ({per_sec}, {eta} left)",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{msg} {pos} events ({per_sec})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(what.to_owned());
        Progress {
            bar: Some(bar),
            pending: 0,
        }
    }

    pub fn inc(&mut self) {
        if let Some(bar) = &self.bar {
            self.pending += 1;
            if self.pending >= STEP {
                bar.inc(self.pending);
                self.pending = 0;
            }
        }
    }

    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.inc(self.pending);
            bar.finish_and_clear();
        }
    }
}
