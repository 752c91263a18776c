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

/// The validation figure early stopping watches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Monitor {
    /// The validation loss (lower is better): the default, as Keras's `val_loss`.
    #[default]
    ValLoss,
    /// The validation accuracy (higher is better).
    ValAccuracy,
}

impl Choice for Monitor {
    const ALL: &'static [Self] = &[Monitor::ValLoss, Monitor::ValAccuracy];
    const WHAT: &'static str = "monitored figure";

    fn name(self) -> &'static str {
        match self {
            Monitor::ValLoss => "val_loss",
            Monitor::ValAccuracy => "val_accuracy",
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
    /// Training accuracy, measured the same way.
    pub train_accuracy: f64,
    /// Validation figures, where the data has a validation split.
    pub val_loss: Option<f64>,
    /// Validation accuracy, where there is a validation split.
    pub val_accuracy: Option<f64>,
    /// Test figures, where the test split was evaluated this epoch.
    pub test_loss: Option<f64>,
    /// Test accuracy, where the test split was evaluated.
    pub test_accuracy: Option<f64>,
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
