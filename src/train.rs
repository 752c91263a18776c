//! The one training loop, written once over the [`Backend`] contract: shuffle,
//! then for each batch one optimizer step (forward → loss → backward → update,
//! inside the backend), then the epoch's figures, validation and test evaluation,
//! and early stopping.

use web_time::Instant;

use crate::backend::{ready, Backend, Pending};
use crate::choice::Choice;
use crate::data::{Dataset, SplitKind};
use crate::error::{Error, Result};
use crate::report::{BestSoFar, EarlyStopping, EpochProgress, EpochReport, Totals};
use crate::rng::Rng;
use crate::schedule::LrSchedule;
use crate::scores::score_split;
use crate::task::Head;

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
    /// Whether the test split is evaluated at all: a caller whose data has no test
    /// split (an estimator's `fit`) passes a stand-in and turns this off.
    pub evaluate_test: bool,
    /// Whether each epoch visits the training examples in a new random order
    /// (else in their order, as scikit-learn's `shuffle=False`).
    pub shuffle: bool,
    /// Stop when the validation figure stops improving (`--patience`).
    pub early_stopping: Option<EarlyStopping>,
    /// Where early stopping stood (a resumed run's).
    pub best: BestSoFar,
    /// The network's output head, whose figures each epoch reports.
    pub head: Head,
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

/// What the loop reports to its caller as it goes (a [`crate::Trainer`] run's
/// keeper; its callers see `trainer::RunObserver`).
pub trait Observer {
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

    /// After `epoch_done`: whether to train another epoch. An observer with a
    /// stopping rule of its own (scikit-learn's `tol`) ends the run here, after a
    /// complete epoch; the run then ends as a finished one.
    fn keep_training(&mut self, _report: &EpochReport) -> bool {
        true
    }
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

/// Trains for `cfg.epochs` epochs over `data`'s training split, shuffling with `rng`
/// each epoch, and tells `observer` about each batch and epoch. A non-finite
/// training or test loss ends the run with `Error::Diverged` before the observer
/// sees that epoch, so nothing is ever saved from a diverged model.
#[cfg(not(target_arch = "wasm32"))]
pub fn train(
    backend: &mut dyn Backend,
    data: &Dataset,
    cfg: &TrainConfig,
    rng: &mut Rng,
    observer: &mut dyn Observer,
) -> Result<TrainOutcome> {
    pollster::block_on(train_async(backend, data, cfg, rng, observer))
}

/// `train`, awaiting the backend's read-backs: the one loop, run to completion by
/// `train` natively and by the page's event loop in a browser. Each epoch:
/// shuffle and train (`train_epoch`), stop there if the observer interrupted,
/// else evaluate (`epoch_report`), watch for divergence and early stopping, and
/// tell the observer.
pub async fn train_async(
    backend: &mut dyn Backend,
    data: &Dataset,
    cfg: &TrainConfig,
    rng: &mut Rng,
    observer: &mut dyn Observer,
) -> Result<TrainOutcome> {
    cfg.validate()?;
    let mut outcome = TrainOutcome {
        reports: Vec::with_capacity(cfg.epochs),
        interrupted: None,
        stopped_early: None,
    };
    let mut resume = cfg.resume_within;
    let mut best = cfg.best;
    for epoch in cfg.start_epoch + 1..=cfg.start_epoch + cfg.epochs {
        let rng_state = rng.state();
        let before = resume.take().unwrap_or_default();
        let n_train = data.train.len();
        let trained = train_epoch(backend, n_train, cfg, epoch, rng, before, observer).await?;
        if let Some(progress) = trained.unfinished {
            outcome.interrupted = Some(Interruption {
                epochs_done: epoch - 1,
                progress,
                rng_state,
                best,
            });
            return Ok(outcome);
        }
        let mut report = epoch_report(backend, data, cfg, epoch, &trained, best).await?;
        if let Some(diverged) = report.divergence() {
            return Err(diverged);
        }
        if let Some(stopping) = &cfg.early_stopping {
            report.best = stopping.observe(&mut best, &report);
            report.best_so_far = best;
        }
        observer.epoch_done(&report, backend, rng).await?;
        let keep_training = observer.keep_training(&report);
        outcome.reports.push(report);
        if let Some(stopping) = cfg.early_stopping.filter(|s| s.should_stop(&best)) {
            log::info!(
                "no improvement in {} for {} epochs",
                stopping.monitor.name(),
                stopping.patience
            );
            outcome.stopped_early = Some(best.epoch);
            return Ok(outcome);
        }
        if trained.interrupted || !keep_training {
            break;
        }
    }
    Ok(outcome)
}

/// What training one epoch did.
struct EpochTrained {
    /// The whole epoch's loss and accuracy (a resumed epoch's earlier steps included).
    totals: Totals,
    /// Examples this run trained on, and the wall time it took.
    samples: usize,
    seconds: f64,
    /// The learning rate of the epoch's last step.
    lr: f32,
    /// Set when the observer stopped the run before the epoch's last step.
    unfinished: Option<EpochProgress>,
    /// Whether the observer asked to stop (after the epoch's last step, the epoch
    /// is complete and the run ends after it).
    interrupted: bool,
}

/// Shuffles the training set and trains on it, from where `before` (a resumed
/// epoch's progress) stopped, telling `observer` about each batch.
async fn train_epoch(
    backend: &mut dyn Backend,
    n_train: usize,
    cfg: &TrainConfig,
    epoch: usize,
    rng: &mut Rng,
    before: EpochProgress,
    observer: &mut dyn Observer,
) -> Result<EpochTrained> {
    let started = Instant::now();
    let mut order: Vec<u32> = (0..n_train as u32).collect();
    if cfg.shuffle {
        rng.shuffle(&mut order);
    }
    let steps_per_epoch = n_train.div_ceil(cfg.batch_size);
    let lr_at = |step| cfg.schedule.lr_at(epoch - 1, step, steps_per_epoch);
    let mut keep_going = true;
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
    let mut totals = before.totals;
    totals.add(pass.totals.loss_sum, pass.totals.correct, pass.totals.count);
    let steps = before.steps + pass.steps;
    let unfinished =
        (!keep_going && steps < steps_per_epoch).then_some(EpochProgress { steps, totals });
    Ok(EpochTrained {
        totals,
        samples: pass.samples,
        seconds: started.elapsed().as_secs_f64(),
        lr: lr_at(steps.saturating_sub(1)),
        unfinished,
        interrupted: !keep_going,
    })
}

/// The epoch's figures: its training totals, and the validation and test splits
/// evaluated as the configuration says.
async fn epoch_report(
    backend: &mut dyn Backend,
    data: &Dataset,
    cfg: &TrainConfig,
    epoch: usize,
    trained: &EpochTrained,
    best: BestSoFar,
) -> Result<EpochReport> {
    let head = &cfg.head;
    let val = match cfg.validation {
        true => Some(score_split(backend, data, head, SplitKind::Val).await?),
        false => None,
    };
    let test = match cfg.evaluate_test && (!cfg.validation || cfg.test_every_epoch) {
        true => Some(score_split(backend, data, head, SplitKind::Test).await?),
        false => None,
    };
    let (train, seconds) = (trained.totals, trained.seconds);
    Ok(EpochReport {
        epoch,
        train_loss: train.mean_loss(),
        train_accuracy: head.task.has_accuracy().then(|| train.accuracy()),
        val_loss: val.as_ref().map(|t| t.loss),
        val_accuracy: val.as_ref().and_then(|t| t.accuracy),
        test_loss: test.as_ref().map(|t| t.loss),
        test_accuracy: test.as_ref().and_then(|t| t.accuracy),
        val_figures: val.map(|t| t.figures).unwrap_or_default(),
        test_figures: test.map(|t| t.figures).unwrap_or_default(),
        seconds: Some(seconds),
        samples_per_second: Some(trained.samples as f64 / seconds.max(1e-9)),
        lr: trained.lr as f64,
        best: true,
        best_so_far: best,
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
