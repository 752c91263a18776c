//! `--metrics FILE`: one JSON object per epoch and line. The whole file is rewritten
//! atomically after every epoch (temporary file, fsync, rename), so a crash or kill
//! leaves the previous complete file, never a torn line.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::choice::Choice;
use crate::error::Result;
use crate::files::write_atomically;
use crate::report::{EpochReport, Figure, Figures};

/// An epoch's figures as JSON, the form of a metrics line and of a checkpoint's
/// history. Figures of splits not evaluated that epoch are absent.
pub fn report_to_json(r: &EpochReport) -> Value {
    let mut line = json!({
        "epoch": r.epoch,
        "train_loss": r.train_loss,
        "lr": r.lr,
    });
    // Timing is absent for epochs restored from a checkpoint.
    let optional = [
        ("train_accuracy", r.train_accuracy),
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
    // A figure that is not a number (an AUC without both classes) is left out.
    for (split, figures) in [("val", &r.val_figures), ("test", &r.test_figures)] {
        for &(f, v) in figures.iter().filter(|(_, v)| v.is_finite()) {
            line[format!("{split}_{}", f.name())] = Value::from(v);
        }
    }
    line
}

/// The figures of `split` ("val", "test") in a JSON line, in the order
/// `Figure::ALL` lists them.
fn figures_from_json(v: &Value, split: &str) -> Option<Figures> {
    let mut figures = Figures::new();
    for &f in Figure::ALL {
        if let Some(x) = v.get(format!("{split}_{}", f.name())) {
            figures.push((f, x.as_f64().filter(|x| x.is_finite())?));
        }
    }
    Some(figures)
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
        // Absent for a regression.
        train_accuracy: optional("train_accuracy")?,
        val_loss: optional("val_loss")?,
        val_accuracy: optional("val_accuracy")?,
        test_loss: optional("test_loss")?,
        test_accuracy: optional("test_accuracy")?,
        val_figures: figures_from_json(v, "val")?,
        test_figures: figures_from_json(v, "test")?,
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
