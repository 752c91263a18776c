//! `--metrics FILE`: one JSON object per epoch and line. The whole file is rewritten
//! atomically after every epoch (temporary file, fsync, rename), so a crash or kill
//! leaves the previous complete file, never a torn line.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
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

/// Writes `bytes` to `path` through a temporary file in the same directory, fsynced
/// and renamed over the target.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::Config(format!("{}: not a file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e: std::io::Error| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}
