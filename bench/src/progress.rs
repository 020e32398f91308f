//! Progress bars (indicatif) for every phase that may take more than a
//! second; hidden with `--quiet` and when stderr is not a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps named `what`.
pub fn bar(quiet: bool, len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), target(quiet));
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:32}] {pos}/{len} {per_sec} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A bar over `seconds` of a timed phase, with a live message (rates).
pub fn timed(quiet: bool, seconds: f64, what: &str) -> ProgressBar {
    let tenths = (seconds * 10.0).ceil().max(1.0) as u64;
    let bar = ProgressBar::with_draw_target(Some(tenths), target(quiet));
    bar.set_style(
        ProgressStyle::with_template("{prefix:>14} [{bar:32}] {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn target(quiet: bool) -> ProgressDrawTarget {
    if quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    }
}
