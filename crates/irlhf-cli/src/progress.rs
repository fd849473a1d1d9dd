//! Progress bars, one per running step, drawn together.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// The bars of one command or pipeline run.
#[derive(Default)]
pub struct Progress {
    bars: MultiProgress,
}

impl Progress {
    /// A bar of `len` steps labelled `label`.
    pub fn bar(&self, len: u64, label: &str) -> ProgressBar {
        let b = self.bars.add(ProgressBar::new(len));
        b.set_style(
            ProgressStyle::with_template(
                "{prefix:>24} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b.set_prefix(label.to_owned());
        b
    }
}
