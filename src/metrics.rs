//! `--metrics FILE`: one JSON object per epoch and line. The whole file is rewritten
//! atomically after every epoch (temporary file, fsync, rename), so a crash or kill
//! leaves the previous complete file, never a torn line.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::Result;
use crate::files::write_atomically;
use crate::report::EpochReport;

/// An epoch's figures as JSON, the form of a metrics line and of a checkpoint's
/// history. Figures of splits not evaluated that epoch are absent.
pub fn report_to_json(r: &EpochReport) -> Value {
    let mut line = json!({
        "epoch": r.epoch,
        "train_loss": r.train_loss,
        "train_accuracy": r.train_accuracy,
        "lr": r.lr,
    });
    // Timing is absent for epochs restored from a checkpoint.
    let optional = [
        ("seconds", r.seconds),
        ("samples_per_second", r.samples_per_second),
        ("val_loss", r.val_loss),
        ("val_accuracy", r.val_accuracy),
        ("test_loss", r.test_loss),
        ("test_accuracy", r.test_accuracy),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            line[key] = Value::from(v);
        }
    }
    line
}

/// The inverse of `report_to_json`; None unless every figure present is finite and
/// the required ones are there.
pub fn report_from_json(v: &Value) -> Option<EpochReport> {
    let f = |key: &str| v.get(key)?.as_f64().filter(|x| x.is_finite());
    let optional = |key: &str| match v.get(key) {
        None => Some(None),
        Some(_) => f(key).map(Some),
    };
    Some(EpochReport {
        epoch: usize::try_from(v.get("epoch")?.as_u64()?).ok()?,
        train_loss: f("train_loss")?,
        train_accuracy: f("train_accuracy")?,
        val_loss: optional("val_loss")?,
        val_accuracy: optional("val_accuracy")?,
        test_loss: optional("test_loss")?,
        test_accuracy: optional("test_accuracy")?,
        seconds: optional("seconds")?,
        samples_per_second: optional("samples_per_second")?,
        // Absent from histories written before schedules existed.
        lr: v.get("lr").and_then(|x| x.as_f64()).unwrap_or(f64::NAN),
        best: false,
        best_so_far: Default::default(),
    })
}

/// Writes the per-epoch metrics file (JSON lines), rewritten atomically each epoch.
pub struct MetricsWriter {
    path: PathBuf,
    backend: String,
    lines: String,
}

impl MetricsWriter {
    /// Starts the file with the epochs of `history` (a resumed run's earlier ones)
    /// and checks up front that `path` can be written, so a typo fails before training.
    pub fn create(path: &Path, backend: &str, history: &[EpochReport]) -> Result<Self> {
        let mut w = MetricsWriter {
            path: path.to_path_buf(),
            backend: backend.to_string(),
            lines: String::new(),
        };
        for r in history {
            w.push(r);
        }
        w.flush()?;
        Ok(w)
    }

    /// Adds an epoch's line and rewrites the file.
    pub fn record(&mut self, r: &EpochReport) -> Result<()> {
        self.push(r);
        self.flush()
    }

    fn push(&mut self, r: &EpochReport) {
        let mut line = report_to_json(r);
        line["backend"] = Value::from(self.backend.as_str());
        self.lines.push_str(&line.to_string());
        self.lines.push('\n');
    }

    fn flush(&self) -> Result<()> {
        write_atomically(&self.path, self.lines.as_bytes())
    }
}
