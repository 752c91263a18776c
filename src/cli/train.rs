//! `gpu-mlp train`: the training run, with printing, metrics, checkpoints and plots.
//!
//! What a run guarantees (README, "Reliability"): every output is checked and locked
//! before training starts; a side output that fails (metrics, plot, an intermediate
//! checkpoint) costs a warning, never the model; a checkpoint is written only from a
//! model whose losses are finite; SIGINT/SIGTERM stop after the current step, save,
//! and exit 130.

use std::path::PathBuf;

use clap::Args;

use super::observer::TrainObserver;
use super::outputs::Outputs;
use super::signals::{interrupted, on_interrupt};
use super::{choice, gpu_options_from_env, load_data, DataArgs, DeviceArgs, NetworkArgs};
use gpu_mlp::checkpoint::{Checkpoint, MAX_EPOCHS};
use gpu_mlp::choice::Choice;
use gpu_mlp::data::{self, Dataset};
use gpu_mlp::optimizer::Optimizer;
use gpu_mlp::report::Monitor;
use gpu_mlp::schedule::{LrSchedule, ScheduleKind};
use gpu_mlp::Error;
use gpu_mlp::{Model, Trainer};

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
    /// Validation data in any format train reads: its test split (a table: all its
    /// rows) is the validation set.
    #[arg(long, value_name = "PATH")]
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
    /// Gives `dataset` --val-data's test split (a table: all its rows) as its
    /// validation split; --val-split is held out by the trainer.
    fn attach_val_data(&self, dataset: &mut Dataset) -> Result<(), Error> {
        let Some(path) = &self.val_data else {
            return Ok(());
        };
        // Labels read by the training data's class names; a table validates with
        // all its rows (its own test table), other formats with their test split.
        let options = data::LoadOptions {
            classes: Some(dataset.classes),
            class_names: dataset.class_names.clone(),
            test_data: data::is_table(path)?.then(|| path.clone()),
            ..Default::default()
        };
        let other = data::load(path, &options)?;
        if (other.width(), other.dtype()) != (dataset.width(), dataset.dtype()) {
            return Err(Error::data(
                path,
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
        Ok(())
    }

    /// For `--resume`: the validation split is the checkpoint's. Another fraction
    /// (or one where it held none out) would validate on examples it trained on.
    fn check_agrees_with(&self, c: &Checkpoint) -> Result<(), Error> {
        match (self.val_split, c.settings.val_split) {
            (Some(given), Some(saved)) if given != saved => Err(Error::Usage(format!(
                "--val-split {given} conflicts with the checkpoint's {saved}: a resumed run \
                 keeps its validation split (leave --val-split out, or give {saved})"
            ))),
            (Some(given), None) => Err(Error::Usage(format!(
                "--val-split {given}: the checkpoint held no validation split out, so every \
                 example was trained on; a resumed run cannot hold some out now"
            ))),
            _ => Ok(()),
        }
    }

    /// Early stopping needs a validation set; said in the flags' words.
    fn check_early_stopping(
        &self,
        resumed: Option<&Checkpoint>,
        validation: bool,
    ) -> Result<(), Error> {
        let saved = resumed
            .and_then(|c| c.settings.early_stopping)
            .map(|s| s.patience);
        match self.patience.or(saved) {
            Some(0) => Err(Error::Usage("--patience must be at least 1".into())),
            Some(_) if !validation => Err(Error::Usage(
                "--patience watches a validation set: add --val-split F or --val-data DIR".into(),
            )),
            _ => Ok(()),
        }
    }

    /// The trainer with the validation split, early stopping and test schedule the
    /// flags give (a resumed run keeps its own where they are left out).
    fn apply(&self, mut trainer: Trainer) -> Trainer {
        if let Some(f) = self.val_split {
            trainer = trainer.val_split(f);
        }
        if let Some(patience) = self.patience {
            trainer = trainer.early_stopping(patience, self.monitor.unwrap_or(Monitor::ValLoss));
        }
        trainer.test_every_epoch(self.eval_test_every_epoch)
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

pub(crate) fn run_train(mut args: TrainArgs) -> Result<(), Error> {
    // Before any output is locked: a Ctrl-C while the data loads then ends the run
    // cleanly (locks released, nothing written) instead of killing it mid-way.
    let interrupt = on_interrupt()?;
    args.device = args.device.resolved(args.quiet);
    let opt = args.net.optimizer()?;
    check_counts(&args)?;
    let resumed = args.resume.as_deref().map(Checkpoint::load).transpose()?;
    if let Some(c) = &resumed {
        args.net.check_agrees_with(c)?;
        args.validation.check_agrees_with(c)?;
    }
    let outputs = Outputs::prepare(&args.save, &args.save_last, &args.metrics, &args.plot)?;
    outputs.check_inputs(&input_files(&args))?;
    let seed = resumed
        .as_ref()
        .map_or(args.net.seed(), |c| c.settings.seed);
    let mut dataset = load_data(&args.data, resumed.as_ref(), args.net.classes, seed)?;
    args.validation.attach_val_data(&mut dataset)?;
    if interrupted(&interrupt) {
        return Err(Error::Interrupted(
            "stopped while reading the data: nothing was trained or written".into(),
        ));
    }
    let validation = dataset.val.is_some()
        || args.validation.val_split.is_some()
        || resumed
            .as_ref()
            .is_some_and(|c| c.settings.val_split.is_some());
    args.validation
        .check_early_stopping(resumed.as_ref(), validation)?;
    let trainer = match &resumed {
        Some(c) => resume_trainer(&args, c)?,
        None => fresh_trainer(&args, opt, &dataset)?,
    };
    if resumed.is_none() && !args.quiet {
        warn_few_steps(&args, &dataset);
        note_many_integer_classes(&dataset, args.data.task);
    }
    let trainer = args.validation.apply(trainer);
    let resuming = match (&args.resume, &resumed) {
        (Some(p), Some(c)) => Some(format!(
            "resuming {} after {}",
            p.display(),
            progress_words(c)
        )),
        _ => None,
    };
    let history = resumed.map(|c| c.state.history).unwrap_or_default();
    let mut observer = TrainObserver::new(
        args.quiet,
        args.checkpoint_every,
        outputs,
        history,
        resuming,
        interrupt,
    );
    match trainer.fit_with(dataset, &mut observer) {
        Ok(model) if model.interrupted() => Err(observer.save_interrupted(model.checkpoint())),
        Ok(model) => {
            observer.finish(model.checkpoint())?;
            report_end(&args, &model, &observer);
            Ok(())
        }
        Err(e @ Error::Diverged { .. }) => Err(observer.save_before_divergence(e)),
        Err(e) => Err(e),
    }
}

/// A fresh run: the network, optimizer and schedule the flags describe.
fn fresh_trainer(args: &TrainArgs, opt: Optimizer, dataset: &Dataset) -> Result<Trainer, Error> {
    let schedule = args
        .schedule
        .schedule(LrSchedule::constant(opt.lr), opt.lr, args.epochs)?;
    Ok(args
        .net
        .trainer(opt, &args.device, dataset)?
        .schedule(schedule)
        .epochs(args.epochs))
}

/// A resumed run: the checkpoint's network and optimizer, with --lr, --weight-decay,
/// --batch-size and the schedule flags where given.
fn resume_trainer(args: &TrainArgs, c: &Checkpoint) -> Result<Trainer, Error> {
    let net = &args.net;
    let opt = Optimizer {
        lr: net.lr.unwrap_or(c.settings.opt.lr),
        weight_decay: net.weight_decay.unwrap_or(c.settings.opt.weight_decay),
        ..c.settings.opt
    };
    let schedule = args.schedule.schedule(
        c.settings.schedule,
        opt.lr,
        c.state.epochs_trained + args.epochs,
    )?;
    Ok(Trainer::new(&[])
        .optimizer(opt)
        .schedule(schedule)
        .batch_size(net.batch_size.unwrap_or(c.settings.batch_size))
        .epochs(args.epochs)
        .device(args.device.device())
        .gpu_options(gpu_options_from_env()?)
        .resume(c.clone()))
}

/// The end of a run: how it ended, and the test figures of the model --save
/// holds where the epoch lines did not show them (a validation split kept the test
/// set unseen, or early stopping kept an earlier epoch).
fn report_end(args: &TrainArgs, model: &Model, observer: &TrainObserver) {
    let stopping = model.checkpoint().settings.early_stopping;
    if let (Some(best), Some(s)) = (model.stopped_early(), stopping) {
        say!(
            "stopped early: {} has not improved for {} epochs; the best epoch was {best}",
            s.monitor.name(),
            s.patience
        );
    }
    let Some(test) = model.test() else { return };
    let shown = observer
        .last_report()
        .is_some_and(|r| r.test_loss.is_some())
        && stopping.is_none();
    let which = match stopping {
        Some(s) => format!(
            "epoch {}'s model, the best by {}",
            test.epoch,
            s.monitor.name()
        ),
        None => format!("epoch {}'s model", test.epoch),
    };
    match args.quiet {
        true => say!("epoch {} {}", test.epoch, quiet_figures(test)),
        false if !shown => say!(
            "test  loss {}  ({which})",
            super::out::figures_text(test.loss, test.accuracy, &test.figures)
        ),
        false => {}
    }
}

/// The files the run reads, by flag, which no output may overwrite.
fn input_files(args: &TrainArgs) -> Vec<(&'static str, &std::path::Path)> {
    [
        ("--data", args.data.data.as_deref()),
        ("--test-data", args.data.test_data.as_deref()),
        ("--val-data", args.validation.val_data.as_deref()),
        ("--resume", args.resume.as_deref()),
    ]
    .into_iter()
    .filter_map(|(flag, path)| path.map(|p| (flag, p)))
    .collect()
}

/// Fewer optimizer steps than this rarely fit anything (a small table with the
/// defaults: 5 epochs of 2 batches reach about half the accuracy they could).
const FEW_STEPS: usize = 100;

/// A fresh run of fewer than `FEW_STEPS` steps is said, with what would give more.
fn warn_few_steps(args: &TrainArgs, dataset: &Dataset) {
    let mut n = dataset.train.len();
    if let (Some(f), None) = (args.validation.val_split, &dataset.val) {
        n -= ((f * n as f64).ceil() as usize).min(n);
    }
    let batch = args.net.batch_size().min(n.max(1));
    let per_epoch = n.div_ceil(batch);
    let steps = per_epoch * args.epochs;
    if steps == 0 || steps >= FEW_STEPS {
        return;
    }
    let epochs = FEW_STEPS.div_ceil(per_epoch.max(1));
    let count = |n: usize, one: &str, many: &str| match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    };
    let note = format!(
        "{} of {} of {batch} are {steps} optimizer steps, usually too few to fit: \
         try --epochs {epochs}, or a smaller --batch-size",
        count(args.epochs, "epoch", "epochs"),
        count(per_epoch, "batch", "batches"),
    );
    tell!("{}", super::out::wrapped("note: ", &note, 80));
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
    match &c.state.progress {
        Some(p) => format!(
            "{} epochs and {} steps of epoch {}",
            c.state.epochs_trained,
            p.steps,
            c.state.epochs_trained + 1
        ),
        None => format!("{} epochs", c.state.epochs_trained),
    }
}

/// `--quiet`'s one line of test figures, keyed for scripts: `test_loss 0.3012
/// test_acc 91.20%`, then the task's (`test_r2 0.8120`).
fn quiet_figures(test: &gpu_mlp::trainer::TestFigures) -> String {
    let mut line = format!("test_loss {:.4}", test.loss);
    if let Some(a) = test.accuracy {
        line += &format!(" test_acc {:.2}%", 100.0 * a);
    }
    for (f, v) in &test.figures {
        line += &format!(" test_{} {v:.4}", gpu_mlp::choice::Choice::name(*f));
    }
    line
}

/// Integer labels are classes unless a task says otherwise; when a table's
/// integers make many classes, they may be values meant to be fitted (a price, a
/// count): say how to fit them as such.
fn note_many_integer_classes(data: &Dataset, task: Option<gpu_mlp::task::Task>) {
    let table = data
        .source
        .as_ref()
        .is_some_and(|s| s.format == gpu_mlp::data::Format::Csv);
    let integers = data.task == gpu_mlp::task::Task::Classify && data.class_names.is_none();
    if table && integers && task.is_none() && data.classes > MANY_CLASSES {
        tell!(
            "note: the target column's integers are read as {} classes; to fit them as \
             values, add --task regress",
            data.classes
        );
    }
}

/// More integer classes than this in a table earn `note_many_integer_classes`.
const MANY_CLASSES: usize = 20;
