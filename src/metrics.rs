//! `--metrics FILE`: one JSON object per epoch and line. The whole file is rewritten
//! atomically after every epoch (temporary file, fsync, rename), so a crash or kill
//! leaves the previous complete file, never a torn line.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::files::write_atomically;
use crate::train::EpochReport;

pub struct MetricsWriter {
    path: PathBuf,
    backend: String,
    lines: String,
}

impl MetricsWriter {
    /// Checks up front that `path` can be written, so a typo fails before training.
    pub fn create(path: &Path, backend: &str) -> Result<Self> {
        let w = MetricsWriter {
            path: path.to_path_buf(),
            backend: backend.to_string(),
            lines: String::new(),
        };
        w.flush()?;
        Ok(w)
    }

    pub fn record(&mut self, r: &EpochReport) -> Result<()> {
        let line = serde_json::json!({
            "epoch": r.epoch,
            "train_loss": r.train_loss,
            "train_accuracy": r.train_accuracy,
            "test_loss": r.test_loss,
            "test_accuracy": r.test_accuracy,
            "seconds": r.seconds,
            "samples_per_second": r.samples_per_second,
            "backend": self.backend,
        });
        self.lines.push_str(&line.to_string());
        self.lines.push('\n');
        self.flush()
    }

    fn flush(&self) -> Result<()> {
        write_atomically(&self.path, self.lines.as_bytes())
    }
}
