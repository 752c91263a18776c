//! What a run records, epoch by epoch: the figures of each epoch, the progress of
//! an unfinished one, and where early stopping stands. The loop fills them in;
//! checkpoints, metrics files and plots read them.

use crate::choice::Choice;
use crate::error::Error;

/// Summed loss and correct predictions over `count` examples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    /// Summed per-example loss.
    pub loss_sum: f64,
    /// Examples classified correctly.
    pub correct: u64,
    /// Examples counted.
    pub count: u64,
}

impl Totals {
    /// Adds a batch's figures.
    pub fn add(&mut self, loss_sum: f64, correct: u64, count: u64) {
        self.loss_sum += loss_sum;
        self.correct += correct;
        self.count += count;
    }

    /// Mean loss per example.
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.count.max(1) as f64
    }

    /// Fraction classified correctly.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.count.max(1) as f64
    }
}

/// A task's figure beyond loss and accuracy, measured on a split (in the
/// targets' own units for a regression).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Figure {
    /// Root mean squared error (regress), over every output.
    Rmse,
    /// Mean absolute error (regress), over every output.
    Mae,
    /// The coefficient of determination (regress), the mean over the outputs, as
    /// scikit-learn's `r2_score`.
    R2,
    /// Of the examples predicted positive, the share that are (binary).
    Precision,
    /// Of the positive examples, the share predicted so (binary).
    Recall,
    /// The harmonic mean of precision and recall (binary).
    F1,
    /// The area under the ROC curve (binary), ties counted half.
    Auc,
    /// The share of labels predicted wrong (multilabel).
    HammingLoss,
    /// F1 over every label's decisions pooled (multilabel).
    MicroF1,
    /// The mean of each label's F1 (multilabel).
    MacroF1,
}

impl Choice for Figure {
    const ALL: &'static [Self] = &[
        Figure::Rmse,
        Figure::Mae,
        Figure::R2,
        Figure::Precision,
        Figure::Recall,
        Figure::F1,
        Figure::Auc,
        Figure::HammingLoss,
        Figure::MicroF1,
        Figure::MacroF1,
    ];
    const WHAT: &'static str = "figure";

    fn name(self) -> &'static str {
        match self {
            Figure::Rmse => "rmse",
            Figure::Mae => "mae",
            Figure::R2 => "r2",
            Figure::Precision => "precision",
            Figure::Recall => "recall",
            Figure::F1 => "f1",
            Figure::Auc => "auc",
            Figure::HammingLoss => "hamming_loss",
            Figure::MicroF1 => "micro_f1",
            Figure::MacroF1 => "macro_f1",
        }
    }
}

impl Figure {
    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Figure::Rmse | Figure::Mae | Figure::HammingLoss)
    }

    /// The name of the figure on the validation split (`val_r2`), as `--monitor`
    /// and metrics files say it.
    pub fn val_name(self) -> &'static str {
        match self {
            Figure::Rmse => "val_rmse",
            Figure::Mae => "val_mae",
            Figure::R2 => "val_r2",
            Figure::Precision => "val_precision",
            Figure::Recall => "val_recall",
            Figure::F1 => "val_f1",
            Figure::Auc => "val_auc",
            Figure::HammingLoss => "val_hamming_loss",
            Figure::MicroF1 => "val_micro_f1",
            Figure::MacroF1 => "val_macro_f1",
        }
    }
}

/// A split's task figures, in the order the task lists them.
pub type Figures = Vec<(Figure, f64)>;

/// The value of `figure` among `figures`.
pub fn figure(figures: &Figures, figure: Figure) -> Option<f64> {
    figures.iter().find(|(f, _)| *f == figure).map(|&(_, v)| v)
}

/// The validation figure early stopping watches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Monitor {
    /// The validation loss (lower is better): the default, as Keras's `val_loss`.
    #[default]
    ValLoss,
    /// The validation accuracy (higher is better; subset accuracy for multilabel).
    ValAccuracy,
    /// One of the task's figures (`val_r2`, `val_f1`, …).
    Val(Figure),
}

impl Choice for Monitor {
    const ALL: &'static [Self] = &[
        Monitor::ValLoss,
        Monitor::ValAccuracy,
        Monitor::Val(Figure::Rmse),
        Monitor::Val(Figure::Mae),
        Monitor::Val(Figure::R2),
        Monitor::Val(Figure::Precision),
        Monitor::Val(Figure::Recall),
        Monitor::Val(Figure::F1),
        Monitor::Val(Figure::Auc),
        Monitor::Val(Figure::HammingLoss),
        Monitor::Val(Figure::MicroF1),
        Monitor::Val(Figure::MacroF1),
    ];
    const WHAT: &'static str = "monitored figure";

    fn name(self) -> &'static str {
        match self {
            Monitor::ValLoss => "val_loss",
            Monitor::ValAccuracy => "val_accuracy",
            Monitor::Val(f) => f.val_name(),
        }
    }
}

/// Early stopping: stop once `monitor` has not improved for `patience` epochs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// The figure watched.
    pub monitor: Monitor,
}

/// The best epoch so far by the monitored figure, and the epochs since it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BestSoFar {
    /// The best monitored value so far.
    pub value: Option<f64>,
    /// The epoch it was reached in.
    pub epoch: usize,
    /// Epochs since.
    pub since: usize,
}

impl EarlyStopping {
    /// Records `report`'s monitored figure; returns whether the epoch is the best
    /// so far (strictly lower loss, or strictly higher accuracy).
    pub fn observe(&self, best: &mut BestSoFar, report: &EpochReport) -> bool {
        let (value, lower_is_better) = match self.monitor {
            Monitor::ValLoss => (report.val_loss, true),
            Monitor::ValAccuracy => (report.val_accuracy, false),
            Monitor::Val(f) => (figure(&report.val_figures, f), !f.higher_is_better()),
        };
        let Some(value) = value else { return false };
        let improved = match best.value {
            None => true,
            Some(b) if lower_is_better => value < b,
            Some(b) => value > b,
        };
        if improved {
            *best = BestSoFar {
                value: Some(value),
                epoch: report.epoch,
                since: 0,
            };
        } else {
            best.since += 1;
        }
        improved
    }

    /// Whether the run has gone `patience` epochs without improving.
    pub fn should_stop(&self, best: &BestSoFar) -> bool {
        best.since >= self.patience
    }
}

/// How far an unfinished epoch got: the steps trained and their loss and accuracy.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpochProgress {
    /// Steps trained.
    pub steps: usize,
    /// Their loss and accuracy.
    pub totals: Totals,
}

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// The epoch, 1-based.
    pub epoch: usize,
    /// Mean training loss, measured on each batch before its update.
    pub train_loss: f64,
    /// Training accuracy, measured the same way (None for a regression).
    pub train_accuracy: Option<f64>,
    /// Validation figures, where the data has a validation split.
    pub val_loss: Option<f64>,
    /// Validation accuracy, where there is a validation split.
    pub val_accuracy: Option<f64>,
    /// Test figures, where the test split was evaluated this epoch.
    pub test_loss: Option<f64>,
    /// Test accuracy, where the test split was evaluated.
    pub test_accuracy: Option<f64>,
    /// The task's validation figures beyond loss and accuracy (regression's R²,
    /// binary's F1, …; none for classify).
    pub val_figures: Figures,
    /// The task's test figures, where the test split was evaluated.
    pub test_figures: Figures,
    /// Wall time of the training steps (shuffle to the epoch's metrics), without
    /// evaluation, and its throughput; None for epochs restored from a checkpoint,
    /// which records what was learned, not how long it took.
    pub seconds: Option<f64>,
    /// Training throughput in examples per second.
    pub samples_per_second: Option<f64>,
    /// The learning rate of the epoch's last step.
    pub lr: f64,
    /// Whether this epoch's model is the best so far by the early-stopping monitor
    /// (without early stopping: every epoch), and where early stopping stands.
    pub best: bool,
    /// Where early stopping stands after this epoch.
    pub best_so_far: BestSoFar,
}

impl EpochReport {
    /// The first non-finite loss, as the error a diverged run ends with.
    pub fn divergence(&self) -> Option<Error> {
        let (what, value) = [
            ("training loss", Some(self.train_loss)),
            ("validation loss", self.val_loss),
            ("test loss", self.test_loss),
        ]
        .into_iter()
        .find_map(|(what, v)| v.filter(|v| !v.is_finite()).map(|v| (what, v)))?;
        Some(Error::Diverged {
            epoch: self.epoch,
            what,
            value,
        })
    }
}
