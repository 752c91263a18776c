//! The one training loop, written once over the `Backend` trait: shuffle, then for
//! each batch forward → loss → backward → update (inside the backend), then the
//! epoch's metrics and a test-set evaluation.

use web_time::Instant;

use crate::choice::Choice;
use crate::data::normalize::InputTransform;
use crate::data::Dataset;
pub use crate::data::SplitKind;
use crate::error::{Error, Result};
use crate::model::Architecture;
use crate::optimizer::{Optimizer, OptimizerState};
use crate::rng::Rng;
use crate::schedule::LrSchedule;

/// Examples per forward pass when evaluating (no gradients, so larger batches are fine).
pub const EVAL_BATCH: usize = 500;

/// Examples per training step unless the caller says otherwise (the tutorial's 100).
pub const DEFAULT_BATCH_SIZE: usize = 100;

/// The largest batch accepted anywhere (also a sanity bound on checkpoints).
pub const MAX_BATCH_SIZE: usize = 1 << 24;

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

/// A backend's answer that may have to wait for the device (a read-back): a
/// future, so that in a browser nothing blocks; natively the blocking forms
/// (`end_epoch`, `parameters`, …) wait for it.
pub type Pending<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + 'a>>;

/// An answer that is there already (the CPU backend's), as a `Pending`.
pub fn ready<'a, T: 'a>(value: Result<T>) -> Pending<'a, T> {
    Box::pin(std::future::ready(value))
}

/// What a training backend does. Parameters, gradients and optimizer state live
/// inside it for the whole run; the loop only says which examples form each batch.
/// What reads results back is asynchronous (`*_async`); natively each has a
/// blocking form of the same name without the suffix.
pub trait Backend {
    /// One line naming the device, for logs and metrics ("cpu (2 threads)", an adapter name).
    fn describe(&self) -> String;
    /// Starts an epoch over the training examples in `order` (a permutation).
    fn begin_epoch(&mut self, order: &[u32]) -> Result<()>;
    /// One optimizer step on the examples `order[start..start + len]`.
    /// May only record work (the GPU backend); results appear at `end_epoch`.
    fn train_batch(&mut self, start: usize, len: usize) -> Result<()>;
    /// Finishes the epoch's work and returns the training loss and accuracy,
    /// measured on each batch before its update.
    fn end_epoch_async(&mut self) -> Pending<'_, Totals>;
    /// Loss and accuracy over a whole split with the current parameters.
    fn evaluate_async(&mut self, split: SplitKind) -> Pending<'_, Totals>;
    /// The predicted class (first maximum of the logits) of every example of a split.
    fn predictions_async(&mut self, split: SplitKind) -> Pending<'_, Vec<u8>>;
    /// The current parameters, in `model::Architecture`'s flat layout.
    fn parameters_async(&mut self) -> Pending<'_, Vec<f32>>;
    /// The optimizer's state (momentum's velocity, Adam's moments, the step count),
    /// for checkpoints.
    fn optimizer_state_async(&mut self) -> Pending<'_, OptimizerState<f32>>;

    /// Sets the learning rate of the steps that follow (a schedule's value per step).
    fn set_learning_rate(&mut self, lr: f32);
    /// Replaces the parameters (in `Architecture`'s flat layout), e.g. with the best
    /// epoch's to evaluate them.
    fn set_parameters(&mut self, params: &[f32]) -> Result<()>;

    /// Restores a saved optimizer state (same optimizer, same parameter count).
    fn set_optimizer_state(&mut self, state: &OptimizerState<f32>) -> Result<()>;

    /// Loss and accuracy of the current epoch's batches so far, where that costs
    /// nothing (the CPU); the GPU backend reads them back only at `end_epoch`.
    fn running_totals(&self) -> Option<Totals> {
        None
    }

    /// `end_epoch_async`, waited for.
    #[cfg(not(target_arch = "wasm32"))]
    fn end_epoch(&mut self) -> Result<Totals> {
        pollster::block_on(self.end_epoch_async())
    }
    /// `evaluate_async`, waited for.
    #[cfg(not(target_arch = "wasm32"))]
    fn evaluate(&mut self, split: SplitKind) -> Result<Totals> {
        pollster::block_on(self.evaluate_async(split))
    }
    /// `predictions_async`, waited for.
    #[cfg(not(target_arch = "wasm32"))]
    fn predictions(&mut self, split: SplitKind) -> Result<Vec<u8>> {
        pollster::block_on(self.predictions_async(split))
    }
    /// `parameters_async`, waited for.
    #[cfg(not(target_arch = "wasm32"))]
    fn parameters(&mut self) -> Result<Vec<f32>> {
        pollster::block_on(self.parameters_async())
    }
    /// `optimizer_state_async`, waited for.
    #[cfg(not(target_arch = "wasm32"))]
    fn optimizer_state(&mut self) -> Result<OptimizerState<f32>> {
        pollster::block_on(self.optimizer_state_async())
    }
}

/// What a backend is built to train: the network, its starting parameters (in
/// `Architecture`'s flat layout), the optimizer and the batch size.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSetup {
    /// The network.
    pub arch: Architecture,
    /// The optimizer.
    pub opt: Optimizer,
    /// Starting parameters, in `Architecture`'s flat layout.
    pub params: Vec<f32>,
    /// Examples per step.
    pub batch_size: usize,
    /// The run's seed, which (with the step, layer and element) picks dropout masks.
    pub seed: u64,
    /// What the network sees of an example (the model's normalization).
    pub input: InputTransform,
}

/// What the training loop runs: epochs, where to start, the schedule, evaluation and
/// early stopping.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Examples per step.
    pub batch_size: usize,
    /// Epochs to train in this run (the unfinished one a resume continues included).
    pub epochs: usize,
    /// Epochs completed before (by a checkpoint this run resumes); numbering continues.
    pub start_epoch: usize,
    /// Where a checkpoint saved in the middle of an epoch stopped: the first epoch of
    /// this run replays the same shuffle and continues after those steps.
    pub resume_within: Option<EpochProgress>,
    /// The learning rate of every step.
    pub schedule: LrSchedule,
    /// Whether the data has a validation split, evaluated every epoch; the test
    /// split is then evaluated per epoch only if `test_every_epoch`.
    pub validation: bool,
    /// Evaluate the test split every epoch even with a validation split.
    pub test_every_epoch: bool,
    /// Stop when the validation figure stops improving (`--patience`).
    pub early_stopping: Option<EarlyStopping>,
    /// Where early stopping stood (a resumed run's).
    pub best: BestSoFar,
}

/// The validation figure early stopping watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// The validation loss (lower is better).
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

impl TrainConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::setting("batch_size", "0 must be at least 1"));
        }
        if self.epochs == 0 {
            return Err(Error::setting("epochs", "0 must be at least 1"));
        }
        Ok(())
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

/// What the loop reports to its caller as it goes.
pub trait Observer {
    /// Once, when a [`crate::Trainer`] run has its backend and before the first step.
    fn started(&mut self, _run: &crate::trainer::RunInfo, _data: &Dataset) -> Result<()> {
        Ok(())
    }
    /// After each batch is recorded (not necessarily computed, on the GPU), with the
    /// epoch's running mean loss where the backend has it for free. Returning false
    /// stops training after this step (an interrupt): the loop returns the
    /// unfinished epoch's progress.
    fn batch_done(
        &mut self,
        _epoch: usize,
        _done: usize,
        _total: usize,
        _running_loss: Option<f64>,
    ) -> bool {
        true
    }
    /// After each epoch's evaluation with finite losses, with the backend and the
    /// shuffling RNG as they stand (what a checkpoint needs). Asynchronous, so that
    /// an observer may read the backend back in a browser too.
    fn epoch_done<'a>(
        &'a mut self,
        report: &'a EpochReport,
        backend: &'a mut dyn Backend,
        rng: &'a Rng,
    ) -> Pending<'a, ()>;
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {
    fn epoch_done<'a>(
        &'a mut self,
        _: &'a EpochReport,
        _: &'a mut dyn Backend,
        _: &'a Rng,
    ) -> Pending<'a, ()> {
        ready(Ok(()))
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainOutcome {
    /// One report per completed epoch.
    pub reports: Vec<EpochReport>,
    /// Set when the observer stopped the run inside an epoch.
    pub interrupted: Option<Interruption>,
    /// Set when early stopping ended the run: the best epoch.
    pub stopped_early: Option<usize>,
}

/// Where an interrupted run stopped: enough to save a checkpoint that resumes to
/// the same bits as a run that was never interrupted.
#[derive(Clone, Debug, PartialEq)]
pub struct Interruption {
    /// Epochs completed.
    pub epochs_done: usize,
    /// The unfinished epoch's steps and totals so far.
    pub progress: EpochProgress,
    /// The shuffling RNG before the unfinished epoch's shuffle.
    pub rng_state: [u64; 4],
    /// Where early stopping stood.
    pub best: BestSoFar,
}

/// Trains for `cfg.epochs` epochs over `n_train` examples, shuffling with `rng`
/// each epoch, and tells `observer` about each batch and epoch. A non-finite
/// training or test loss ends the run with `Error::Diverged` before the observer
/// sees that epoch, so nothing is ever saved from a diverged model.
#[cfg(not(target_arch = "wasm32"))]
pub fn train(
    backend: &mut dyn Backend,
    n_train: usize,
    cfg: &TrainConfig,
    rng: &mut Rng,
    observer: &mut dyn Observer,
) -> Result<TrainOutcome> {
    pollster::block_on(train_async(backend, n_train, cfg, rng, observer))
}

/// `train`, awaiting the backend's read-backs: the one loop, run to completion by
/// `train` natively and by the page's event loop in a browser.
pub async fn train_async(
    backend: &mut dyn Backend,
    n_train: usize,
    cfg: &TrainConfig,
    rng: &mut Rng,
    observer: &mut dyn Observer,
) -> Result<TrainOutcome> {
    cfg.validate()?;
    let mut reports = Vec::with_capacity(cfg.epochs);
    let mut order: Vec<u32> = Vec::with_capacity(n_train);
    let mut resume = cfg.resume_within;
    let mut best = cfg.best;
    let steps_per_epoch = n_train.div_ceil(cfg.batch_size);
    for epoch in cfg.start_epoch + 1..=cfg.start_epoch + cfg.epochs {
        let started = Instant::now();
        let rng_state = rng.state();
        order.clear();
        order.extend(0..n_train as u32);
        rng.shuffle(&mut order);
        let before = resume.take().unwrap_or_default();
        let mut keep_going = true;
        let lr_at = |step| cfg.schedule.lr_at(epoch - 1, step, steps_per_epoch);
        let pass = run_epoch_async(
            backend,
            &order,
            cfg.batch_size,
            before.steps..,
            &lr_at,
            |b, done, _| {
                let loss = b.running_totals().map(|t| t.mean_loss());
                keep_going = observer.batch_done(epoch, before.steps + done, steps_per_epoch, loss);
                keep_going
            },
        )
        .await?;
        let mut train = before.totals;
        train.add(pass.totals.loss_sum, pass.totals.correct, pass.totals.count);
        let steps = before.steps + pass.steps;
        if !keep_going && steps < steps_per_epoch {
            let progress = EpochProgress {
                steps,
                totals: train,
            };
            let epochs_done = epoch - 1;
            let interrupted = Some(Interruption {
                epochs_done,
                progress,
                rng_state,
                best,
            });
            return Ok(TrainOutcome {
                reports,
                interrupted,
                stopped_early: None,
            });
        }
        let seconds = started.elapsed().as_secs_f64();
        let val = match cfg.validation {
            true => Some(backend.evaluate_async(SplitKind::Val).await?),
            false => None,
        };
        let test = match !cfg.validation || cfg.test_every_epoch {
            true => Some(backend.evaluate_async(SplitKind::Test).await?),
            false => None,
        };
        let mut report = EpochReport {
            epoch,
            train_loss: train.mean_loss(),
            train_accuracy: train.accuracy(),
            val_loss: val.map(|t| t.mean_loss()),
            val_accuracy: val.map(|t| t.accuracy()),
            test_loss: test.map(|t| t.mean_loss()),
            test_accuracy: test.map(|t| t.accuracy()),
            seconds: Some(seconds),
            samples_per_second: Some(pass.samples as f64 / seconds.max(1e-9)),
            lr: lr_at(steps - 1) as f64,
            best: true,
            best_so_far: best,
        };
        if let Some(diverged) = report.divergence() {
            return Err(diverged);
        }
        if let Some(stopping) = &cfg.early_stopping {
            report.best = stopping.observe(&mut best, &report);
            report.best_so_far = best;
        }
        observer.epoch_done(&report, backend, rng).await?;
        reports.push(report);
        if let Some(stopping) = cfg.early_stopping.filter(|s| s.should_stop(&best)) {
            log::info!(
                "no improvement in {} for {} epochs",
                stopping.monitor.name(),
                stopping.patience
            );
            return Ok(TrainOutcome {
                reports,
                interrupted: None,
                stopped_early: Some(best.epoch),
            });
        }
        if !keep_going {
            break;
        }
    }
    Ok(TrainOutcome {
        reports,
        interrupted: None,
        stopped_early: None,
    })
}

/// What one pass over (part of) an epoch did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pass {
    /// Steps run.
    pub steps: usize,
    /// Examples run.
    pub samples: usize,
    /// Their loss and accuracy.
    pub totals: Totals,
}

/// One pass over `order` (a permutation of the training set) in batches of
/// `batch_size`, over the batches numbered `steps` (`3..` resumes after three,
/// `..10` stops after ten); the last, partial batch is trained on, not dropped.
/// Each step runs at `lr_at(step)`. After each batch calls `after_batch(backend,
/// done, total)` (counting this pass's batches), which returns false to stop there.
/// The one epoch loop: training and benchmarks both run it.
#[cfg(not(target_arch = "wasm32"))]
pub fn run_epoch(
    backend: &mut dyn Backend,
    order: &[u32],
    batch_size: usize,
    steps: impl std::ops::RangeBounds<usize>,
    lr_at: &dyn Fn(usize) -> f32,
    after_batch: impl FnMut(&dyn Backend, usize, usize) -> bool,
) -> Result<Pass> {
    pollster::block_on(run_epoch_async(
        backend,
        order,
        batch_size,
        steps,
        lr_at,
        after_batch,
    ))
}

/// `run_epoch`, awaiting the epoch's read-back.
pub async fn run_epoch_async(
    backend: &mut dyn Backend,
    order: &[u32],
    batch_size: usize,
    steps: impl std::ops::RangeBounds<usize>,
    lr_at: &dyn Fn(usize) -> f32,
    mut after_batch: impl FnMut(&dyn Backend, usize, usize) -> bool,
) -> Result<Pass> {
    use std::ops::Bound;
    backend.begin_epoch(order)?;
    let n = order.len();
    let total = n.div_ceil(batch_size);
    let first = match steps.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match steps.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => total,
    }
    .min(total);
    let mut pass = Pass::default();
    for step in first..end {
        let start = step * batch_size;
        let len = batch_size.min(n - start);
        backend.set_learning_rate(lr_at(step));
        backend.train_batch(start, len)?;
        pass.steps += 1;
        pass.samples += len;
        if !after_batch(backend, pass.steps, end.saturating_sub(first)) {
            break;
        }
    }
    pass.totals = backend.end_epoch_async().await?;
    Ok(pass)
}

/// Index of the first maximum: the prediction rule both paths (and the GPU kernel)
/// share, so ties resolve the same way everywhere.
pub fn argmax<T: PartialOrd + Copy>(row: &[T]) -> usize {
    row.iter()
        .enumerate()
        .fold(
            (0, row[0]),
            |best, (i, &v)| if v > best.1 { (i, v) } else { best },
        )
        .0
}

/// The training batch actually used (never more than the training set, whatever
/// the caller asked for) and the rows a backend's batch buffers hold (evaluation
/// runs `EVAL_BATCH` at a time).
pub fn batch_rows(batch_size: usize, train_len: usize) -> (usize, usize) {
    let batch = batch_size.min(train_len).max(1);
    (batch, batch.max(EVAL_BATCH))
}

/// What every backend needs of its setup and data: parameters that fill the
/// network's flat layout, examples in both splits, and images of the input size.
pub fn check_setup(setup: &TrainSetup, data: &Dataset) -> Result<()> {
    let arch = &setup.arch;
    if setup.params.len() != arch.param_count() {
        return Err(Error::Usage(format!(
            "{} parameters for a {} network of {}",
            setup.params.len(),
            arch.shape_string(),
            arch.param_count()
        )));
    }
    if data.train.is_empty() || data.test.is_empty() {
        return Err(Error::data(&data.dir, "a split with no examples"));
    }
    if data.width() != arch.inputs() {
        return Err(Error::data(
            &data.dir,
            format!(
                "{} features per example for a network of {} inputs",
                data.width(),
                arch.inputs()
            ),
        ));
    }
    setup.input.check(arch.inputs())?;
    if setup.input.dtype != data.dtype() {
        return Err(Error::data(
            &data.dir,
            format!(
                "{} features for a model trained on {}",
                data.dtype().name(),
                setup.input.dtype.name()
            ),
        ));
    }
    Ok(())
}

/// A batch `start..start + len` must be non-empty, fit the batch buffers (`rows`)
/// and lie inside the training set of `n`.
pub fn check_batch(start: usize, len: usize, rows: usize, n: usize) -> Result<()> {
    if len == 0 || len > rows || start + len > n {
        return Err(Error::Usage(format!(
            "a batch of examples {start}..{} does not fit (batch buffers hold {rows}, the training set {n})",
            start + len
        )));
    }
    Ok(())
}

/// An epoch order must name every training example's index, each below `n`.
pub fn check_order(order: &[u32], n: usize) -> Result<()> {
    if order.len() != n {
        return Err(Error::Usage(format!(
            "an epoch order of {} examples for a training set of {n}",
            order.len()
        )));
    }
    if let Some(&bad) = order.iter().find(|&&i| i as usize >= n) {
        return Err(Error::Usage(format!(
            "example {bad} in the epoch order is outside the training set of {n}"
        )));
    }
    Ok(())
}
