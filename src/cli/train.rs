//! `gpu-mlp train`: the training run, with printing, metrics, checkpoints and plots.
//!
//! What a run guarantees (README, "Reliability"): every output is checked and locked
//! before training starts; a side output that fails (metrics, plot, an intermediate
//! checkpoint) costs a warning, never the model; a checkpoint is written only from a
//! model whose losses are finite; SIGINT/SIGTERM stop after the current step, save,
//! and exit 130.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;

use super::observer::{CheckpointInfo, TrainObserver};
use super::{
    choice, describe_run, fresh_setup, load_data, make_backend, DataArgs, DeviceArgs, NetworkArgs,
};
use gpu_mlp::checkpoint::{Checkpoint, MAX_EPOCHS};
use gpu_mlp::choice::Choice;
use gpu_mlp::data::Dataset;
use gpu_mlp::data::{self, SplitKind};
use gpu_mlp::files::Output;
use gpu_mlp::optimizer::Optimizer;
use gpu_mlp::rng::Rng;
use gpu_mlp::schedule::{LrSchedule, ScheduleKind};
use gpu_mlp::train::{
    self, Backend, EarlyStopping, Monitor, TrainConfig, TrainOutcome, TrainSetup,
};
use gpu_mlp::Error;

#[derive(Args)]
pub(crate) struct TrainArgs {
    #[command(flatten)]
    pub(crate) device: DeviceArgs,
    #[command(flatten)]
    pub(crate) data: DataArgs,
    #[command(flatten)]
    pub(crate) net: NetworkArgs,
    /// Epochs to train (more epochs, with --resume).
    #[arg(help_heading = "Run and outputs", long, default_value_t = 5)]
    pub(crate) epochs: usize,
    /// Write one JSON object per epoch to FILE (rewritten atomically each epoch).
    #[arg(help_heading = "Run and outputs", long, value_name = "FILE")]
    pub(crate) metrics: Option<PathBuf>,
    /// Save the trained network, optimizer state and RNG position (safetensors).
    #[arg(help_heading = "Run and outputs", long, value_name = "FILE")]
    pub(crate) save: Option<PathBuf>,
    /// Also save every N epochs during training (needs --save).
    #[arg(
        help_heading = "Run and outputs",
        long,
        value_name = "N",
        requires = "save"
    )]
    pub(crate) checkpoint_every: Option<usize>,
    /// Continue training a checkpoint: its network, optimizer state, RNG position and
    /// history (give the data flags and --save again; --lr and --batch-size may change).
    #[arg(
        help_heading = "Run and outputs",
        long,
        value_name = "FILE",
        requires = "save"
    )]
    pub(crate) resume: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) schedule: ScheduleArgs,
    #[command(flatten)]
    pub(crate) validation: ValidationArgs,
    /// Also save the last epoch's model here (with --patience, --save keeps the best).
    #[arg(
        help_heading = "Run and outputs",
        long,
        value_name = "FILE",
        requires = "save"
    )]
    pub(crate) save_last: Option<PathBuf>,
    /// Draw loss and accuracy curves (train, validation, test) per epoch into a PNG.
    #[arg(help_heading = "Run and outputs", long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    /// Print only the final result (no progress bar, no per-epoch lines).
    #[arg(help_heading = "Run and outputs", long, short)]
    pub(crate) quiet: bool,
}

/// Validation and early stopping.
#[derive(Args)]
#[command(next_help_heading = "Validation and early stopping")]
pub(crate) struct ValidationArgs {
    /// Hold out this fraction of the training examples, after one shuffle seeded by
    /// --seed, as a validation set, evaluated every epoch; the test set is then
    /// evaluated once, at the end (see --eval-test-every-epoch).
    #[arg(long, value_name = "F", conflicts_with = "val_data")]
    pub(crate) val_split: Option<f64>,
    /// A data directory whose test files (t10k-*) are the validation set.
    #[arg(long, value_name = "DIR")]
    pub(crate) val_data: Option<PathBuf>,
    /// With a validation set, evaluate the test set every epoch too.
    #[arg(long)]
    pub(crate) eval_test_every_epoch: bool,
    /// Stop when the monitored validation figure has not improved for N epochs;
    /// --save then keeps the best epoch's model (needs a validation set).
    #[arg(long, value_name = "N")]
    pub(crate) patience: Option<usize>,
    /// What --patience watches: val_loss or val_accuracy [default: val_loss].
    #[arg(long, value_parser = choice::<Monitor>(), requires = "patience")]
    pub(crate) monitor: Option<Monitor>,
}

impl ValidationArgs {
    /// Gives `dataset` its validation split: --val-data's test files, or
    /// --val-split (else a resumed run's) held out with `seed`.
    fn attach(
        &self,
        dataset: &mut Dataset,
        resumed: Option<&Checkpoint>,
        seed: u64,
    ) -> Result<Option<f64>, Error> {
        if let Some(dir) = &self.val_data {
            // A table is all validation rows (its own test file); labels read by
            // the training data's class names.
            let options = data::LoadOptions {
                classes: Some(dataset.classes),
                class_names: dataset.class_names.clone(),
                test_data: (dataset.layout == data::Layout::Table).then(|| dir.clone()),
                ..Default::default()
            };
            let other = data::load(dir, &options)?;
            if (other.width(), other.dtype()) != (dataset.width(), dataset.dtype()) {
                return Err(Error::data(
                    dir,
                    format!(
                        "validation examples are {} {} features, training examples {} {}",
                        other.width(),
                        other.dtype().name(),
                        dataset.width(),
                        dataset.dtype().name()
                    ),
                ));
            }
            // The other set's test split validates, as its name says it was held out.
            dataset.val = Some(other.test);
            return Ok(None);
        }
        let split = self.val_split.or(resumed.and_then(|c| c.val_split));
        if let Some(f) = split {
            dataset.hold_out_validation(f, seed)?;
        }
        Ok(split)
    }

    /// Early stopping as the flags (else a resumed run) say; it needs a validation set.
    fn early_stopping(
        &self,
        resumed: Option<&Checkpoint>,
        validation: bool,
    ) -> Result<Option<EarlyStopping>, Error> {
        let saved = resumed.and_then(|c| c.early_stopping);
        let stopping = match (self.patience, saved) {
            (Some(patience), _) => Some(EarlyStopping {
                patience,
                monitor: self.monitor.unwrap_or(Monitor::ValLoss),
            }),
            (None, saved) => saved,
        };
        if let Some(s) = &stopping {
            if s.patience == 0 {
                return Err(Error::Usage("--patience must be at least 1".into()));
            }
            if !validation {
                return Err(Error::Usage(
                    "--patience watches a validation set: add --val-split F or --val-data DIR"
                        .into(),
                ));
            }
        }
        Ok(stopping)
    }
}

/// The learning-rate schedule (src/schedule.rs gives each formula).
#[derive(Args)]
#[command(next_help_heading = "Learning-rate schedule")]
pub(crate) struct ScheduleArgs {
    /// Learning-rate schedule: constant, step (StepLR, per epoch), cosine
    /// (CosineAnnealingLR, per epoch) or onecycle (OneCycleLR, per step) [default: constant].
    #[arg(long, value_parser = choice::<ScheduleKind>())]
    pub(crate) lr_schedule: Option<ScheduleKind>,
    /// Epochs of linear warmup, ramped per step (not with onecycle) [default: 0].
    #[arg(long, value_name = "EPOCHS")]
    pub(crate) warmup: Option<usize>,
    /// step: epochs between decays [default: 10].
    #[arg(long, value_name = "EPOCHS")]
    pub(crate) lr_step_every: Option<usize>,
    /// step: the decay factor [default: 0.1].
    #[arg(long, value_name = "F")]
    pub(crate) lr_gamma: Option<f32>,
    /// cosine: the final learning rate [default: 0].
    #[arg(long, value_name = "F")]
    pub(crate) lr_min: Option<f32>,
    /// cosine, onecycle: the epochs the schedule spans [default: the run's epochs].
    #[arg(long, value_name = "EPOCHS")]
    pub(crate) lr_span: Option<usize>,
}

impl ScheduleArgs {
    /// The schedule the flags describe over `base` (a resumed checkpoint's, or a
    /// constant one): given flags replace its settings, at learning rate `lr`.
    fn schedule(
        &self,
        base: LrSchedule,
        lr: f32,
        total_epochs: usize,
    ) -> Result<LrSchedule, Error> {
        let fresh = self.lr_schedule.is_some() && base.kind == ScheduleKind::Constant;
        let s = LrSchedule {
            kind: self.lr_schedule.unwrap_or(base.kind),
            lr,
            warmup: self.warmup.unwrap_or(base.warmup),
            step_every: self
                .lr_step_every
                .unwrap_or(if fresh { 10 } else { base.step_every }),
            gamma: self
                .lr_gamma
                .unwrap_or(if fresh { 0.1 } else { base.gamma }),
            min_lr: self.lr_min.unwrap_or(base.min_lr),
            span: self
                .lr_span
                .unwrap_or(if fresh { total_epochs } else { base.span }),
        };
        s.validate()?;
        Ok(s)
    }
}

/// The outputs of a run, each prepared (checked, locked) before training.
pub(crate) struct Outputs {
    pub(crate) save: Option<Output>,
    pub(crate) save_last: Option<Output>,
    pub(crate) metrics: Option<Output>,
    pub(crate) plot: Option<Output>,
}

impl Outputs {
    fn prepare(args: &TrainArgs) -> Result<Self, Error> {
        let prepare = |path: &Option<PathBuf>, flag: &str| -> Result<Option<Output>, Error> {
            let Some(path) = path else { return Ok(None) };
            let out = Output::prepare(path, flag)?;
            if out.path != *path {
                log::info!(
                    "{flag} {} writes through to {}",
                    path.display(),
                    out.path.display()
                );
            }
            Ok(Some(out))
        };
        let outputs = Outputs {
            save: prepare(&args.save, "--save")?,
            save_last: prepare(&args.save_last, "--save-last")?,
            metrics: prepare(&args.metrics, "--metrics")?,
            plot: prepare(&args.plot, "--plot")?,
        };
        let paths: Vec<&PathBuf> = [
            &outputs.save,
            &outputs.save_last,
            &outputs.metrics,
            &outputs.plot,
        ]
        .into_iter()
        .flatten()
        .map(|o| &o.path)
        .collect();
        if (1..paths.len()).any(|i| paths[..i].contains(&paths[i])) {
            return Err(Error::Usage(
                "--save, --save-last, --metrics and --plot must name different files".into(),
            ));
        }
        Ok(outputs)
    }
}

pub(crate) fn run_train(mut args: TrainArgs) -> Result<(), Error> {
    args.device = args.device.resolved();
    let opt = args.net.optimizer()?;
    check_counts(&args)?;
    let resumed = args.resume.as_deref().map(Checkpoint::load).transpose()?;
    if let Some(c) = &resumed {
        args.net.check_agrees_with(c)?;
    }
    let outputs = Outputs::prepare(&args)?;
    let seed = resumed.as_ref().map_or(args.net.seed(), |c| c.seed);
    let mut dataset = load_data(&args.data, resumed.as_ref(), args.net.classes, seed)?;
    let val_split = args
        .validation
        .attach(&mut dataset, resumed.as_ref(), seed)?;
    let early_stopping = args
        .validation
        .early_stopping(resumed.as_ref(), dataset.val.is_some())?;
    let dataset = Arc::new(dataset);
    let (setup, mut rng, info, mut cfg) = match &resumed {
        Some(c) => resume_from(c, &args, &dataset)?,
        None => fresh_start(&args, opt, &dataset)?,
    };
    cfg.validation = dataset.val.is_some();
    cfg.test_every_epoch = args.validation.eval_test_every_epoch;
    cfg.early_stopping = early_stopping;
    let header = describe_run(&dataset, &setup.arch, &setup.opt, cfg.batch_size, "");
    let mut backend = make_backend(&args.device, &dataset, setup)?;
    if let Some(c) = &resumed {
        backend.set_optimizer_state(&c.state)?;
    }
    let describe = backend.describe();
    if !args.quiet {
        say!("{header}{describe}");
        if let (Some(p), Some(c)) = (&args.resume, &resumed) {
            say!("resuming {} after {}", p.display(), progress_words(c));
        }
    }
    let history = resumed.map(|c| c.history).unwrap_or_default();
    let interrupt = on_interrupt()?;
    let info = info.with_run(cfg.schedule, val_split, early_stopping);
    let mut observer =
        TrainObserver::new(&args, &cfg, outputs, info, history, &describe, interrupt);
    let result = train::train(
        backend.as_mut(),
        dataset.train.len(),
        &cfg,
        &mut rng,
        &mut observer,
    );
    match result {
        Ok(TrainOutcome {
            interrupted: Some(stop),
            ..
        }) => Err(observer.save_interrupted(backend.as_mut(), &stop)),
        Ok(outcome) => {
            observer.finish()?;
            report_end(&args, &cfg, &outcome, &mut observer, backend.as_mut())
        }
        Err(e @ Error::Diverged { .. }) => Err(observer.save_before_divergence(e)),
        Err(e) => Err(e),
    }
}

/// A fresh run: a new network from the seed, a schedule from the flags.
fn fresh_start(
    args: &TrainArgs,
    opt: Optimizer,
    dataset: &Dataset,
) -> Result<(TrainSetup, Rng, CheckpointInfo, TrainConfig), Error> {
    let (setup, rng) = fresh_setup(&args.net, opt, &args.device, dataset)?;
    let info = CheckpointInfo::new(
        &setup,
        args.net.seed(),
        dataset,
        dataset.class_names.clone(),
    );
    let base = LrSchedule::constant(setup.opt.lr);
    let cfg = TrainConfig {
        batch_size: setup.batch_size,
        epochs: args.epochs,
        start_epoch: 0,
        resume_within: None,
        schedule: args.schedule.schedule(base, setup.opt.lr, args.epochs)?,
        validation: false,
        test_every_epoch: false,
        early_stopping: None,
        best: Default::default(),
    };
    Ok((setup, rng, info, cfg))
}

/// The end of a run: how it ended, and the test set, evaluated once with the model
/// --save holds when a validation set kept it from being seen every epoch.
fn report_end(
    args: &TrainArgs,
    cfg: &TrainConfig,
    outcome: &TrainOutcome,
    observer: &mut TrainObserver,
    backend: &mut dyn Backend,
) -> Result<(), Error> {
    let Some(last) = outcome.reports.last() else {
        return Ok(());
    };
    if let (Some(best), Some(s)) = (outcome.stopped_early, &cfg.early_stopping) {
        say!(
            "stopped early: {} has not improved for {} epochs; the best epoch was {best}",
            s.monitor.name(),
            s.patience
        );
    }
    let (test_loss, test_accuracy, epoch) = match (last.test_loss, last.test_accuracy) {
        (Some(l), Some(a)) if cfg.early_stopping.is_none() => (l, a, last.epoch),
        _ => {
            let epoch = observer.select_saved_model(backend)?;
            let t = backend.evaluate(SplitKind::Test)?;
            (t.mean_loss(), t.accuracy(), epoch)
        }
    };
    let which = match cfg.early_stopping {
        Some(s) => format!("epoch {epoch}'s model, the best by {}", s.monitor.name()),
        None => format!("epoch {epoch}'s model"),
    };
    match args.quiet {
        true => say!(
            "epoch {epoch} test_loss {test_loss:.4} test_acc {:.2}%",
            100.0 * test_accuracy
        ),
        false if last.test_loss.is_none() || cfg.early_stopping.is_some() => say!(
            "test  loss {test_loss:.4}  accuracy {:.2}%  ({which})",
            100.0 * test_accuracy
        ),
        false => {}
    }
    Ok(())
}

fn check_counts(args: &TrainArgs) -> Result<(), Error> {
    if !(1..=MAX_EPOCHS).contains(&args.epochs) {
        return Err(Error::Usage(format!(
            "--epochs {} must be between 1 and {MAX_EPOCHS}",
            args.epochs
        )));
    }
    if args.checkpoint_every == Some(0) {
        return Err(Error::Usage("--checkpoint-every must be at least 1".into()));
    }
    Ok(())
}

/// "3 epochs", or "3 epochs and 120 steps of the 4th" for a checkpoint saved by an interrupt.
fn progress_words(c: &Checkpoint) -> String {
    match &c.progress {
        Some(p) => format!(
            "{} epochs and {} steps of epoch {}",
            c.epochs_trained,
            p.steps,
            c.epochs_trained + 1
        ),
        None => format!("{} epochs", c.epochs_trained),
    }
}

/// Where a resumed run starts: the checkpoint's network, parameters, optimizer (with
/// --lr and --batch-size when given), RNG position, epoch count and, for a checkpoint
/// saved inside an epoch, how far that epoch got.
fn resume_from(
    c: &Checkpoint,
    args: &TrainArgs,
    dataset: &Dataset,
) -> Result<(TrainSetup, Rng, CheckpointInfo, TrainConfig), Error> {
    let shape = |channels, rows, cols| format!("{channels}×{rows}×{cols}");
    let (theirs, ours) = (
        shape(c.image_channels, c.image_rows, c.image_cols),
        shape(dataset.channels, dataset.rows, dataset.cols),
    );
    if theirs != ours || c.input.dtype != dataset.dtype() {
        return Err(Error::data(
            &dataset.dir,
            format!(
                "the network of --resume takes {theirs} {} inputs, the data has {ours} {}",
                c.input.dtype.name(),
                dataset.dtype().name()
            ),
        ));
    }
    let batch_size = args.net.batch_size.unwrap_or(c.batch_size);
    if c.progress.is_some() && batch_size != c.batch_size {
        return Err(Error::Usage(format!(
            "--batch-size {batch_size}: the checkpoint stopped inside an epoch of batches of {}; \
             finish that epoch with its batch size first",
            c.batch_size
        )));
    }
    let setup = TrainSetup {
        arch: c.arch.clone(),
        opt: Optimizer {
            lr: args.net.lr.unwrap_or(c.opt.lr),
            weight_decay: args.net.weight_decay.unwrap_or(c.opt.weight_decay),
            ..c.opt
        },
        params: c.params.clone(),
        batch_size,
        seed: c.seed,
        input: c.input.clone(),
    };
    setup.opt.validate()?;
    let info = CheckpointInfo::new(&setup, c.seed, dataset, c.class_names.clone());
    let cfg = TrainConfig {
        batch_size,
        epochs: args.epochs,
        start_epoch: c.epochs_trained,
        resume_within: c.progress,
        validation: false,
        test_every_epoch: false,
        early_stopping: None,
        best: c.best,
        schedule: args.schedule.schedule(
            c.schedule,
            setup.opt.lr,
            c.epochs_trained + args.epochs,
        )?,
    };
    Ok((setup, Rng::from_state(c.rng_state), info, cfg))
}

/// SIGINT and SIGTERM set the returned flag (the run stops after the current step,
/// saves and exits 130); a second one exits at once.
fn on_interrupt() -> Result<Arc<AtomicBool>, Error> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let registered =
            signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag))
                .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&flag)));
        registered.map_err(|e| Error::Resources(format!("cannot handle signal {signal}: {e}")))?;
    }
    Ok(flag)
}

/// Whether an interrupt has arrived.
pub(crate) fn interrupted(flag: &AtomicBool) -> bool {
    flag.load(Ordering::Relaxed)
}
