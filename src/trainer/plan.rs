//! How a run starts: a fresh network from the seed, or a checkpoint continued
//! exactly where it stopped; either way the backend's setup, the shuffling RNG,
//! the settings every checkpoint of the run repeats, and the loop's configuration.

use std::sync::Arc;

use super::Trainer;
use crate::backend::TrainSetup;
use crate::checkpoint::{Checkpoint, RunSettings};
use crate::choice::Choice;
use crate::data::normalize::{InputTransform, Normalize};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::Architecture;
use crate::optimizer::Optimizer;
use crate::report::Monitor;
use crate::report::{EarlyStopping, EpochReport};
use crate::rng::Rng;
use crate::schedule::LrSchedule;
use crate::scores::figures_of;
use crate::task::{ClassWeight, Head, Task};
use crate::train::TrainConfig;

/// How a run starts: the backend's setup, the RNG after initialisation, the
/// checkpoint fields, the loop's configuration.
pub(super) struct Plan {
    pub(super) setup: TrainSetup,
    pub(super) rng: Rng,
    pub(super) settings: RunSettings,
    /// The epochs a resumed checkpoint trained before.
    pub(super) history: Vec<EpochReport>,
    pub(super) config: TrainConfig,
}

impl Trainer {
    /// `data` with the validation split this trainer asks for, held out with the
    /// run's seed (a resumed run's split where this trainer names none), and
    /// arranged as a resumed network takes it.
    pub(super) fn with_validation(&self, data: Arc<Dataset>) -> Result<Arc<Dataset>> {
        let resumed = self.resume.as_deref();
        let fraction = self
            .val_split
            .or(resumed.and_then(|c| c.settings.val_split));
        let task = self.task.or(resumed.map(|c| c.settings.arch.task()));
        let class_weight = self.weights_of_classes(resumed);
        let holds_out = fraction.is_some() && data.val.is_none();
        let retasks = task.is_some_and(|t| t != data.task);
        let arrangement = resumed
            .map(|c| c.settings.arrangement())
            .filter(|a| *a != data.arrangement());
        if !holds_out && !retasks && class_weight.is_none() && arrangement.is_none() {
            return Ok(data);
        }
        let mut data = Arc::unwrap_or_clone(data);
        if let Some(a) = arrangement {
            data.arrange_as(a);
        }
        if let Some(task) = task.filter(|_| retasks) {
            data = data.with_task(task)?;
        }
        if let Some(fraction) = fraction.filter(|_| holds_out) {
            let seed = resumed.map_or(self.seed, |c| c.settings.seed);
            data.hold_out_validation(fraction, seed)?;
        }
        if let Some(weights) = &class_weight {
            data.weigh_classes(weights)?;
        }
        Ok(Arc::new(data))
    }

    /// The class weights as set (else a resumed run's).
    fn weights_of_classes(&self, resumed: Option<&Checkpoint>) -> Option<ClassWeight> {
        self.head
            .class_weight
            .clone()
            .or(resumed.and_then(|c| c.settings.class_weight.clone()))
    }

    /// The output head for `data`: the task's (the data's), the loss as set (else
    /// the task's default), and, for a regression, the targets' standardization
    /// from the training split.
    fn head_for(&self, data: &Dataset) -> Result<Head> {
        let task = data.task;
        let mut head = Head::new(task, self.loss.unwrap_or(task.default_loss()));
        head.huber_delta = self.head.huber_delta;
        head.threshold = self.head.threshold;
        head.pos_weight = match self.head.pos_weight[..] {
            [w] => vec![w; data.outputs()],
            _ => self.head.pos_weight.clone(),
        };
        if task == Task::Regress && self.head.normalize_targets {
            let (shift, scale) = target_statistics(data)?;
            head.target_shift = shift;
            head.target_scale = scale;
        }
        Ok(head)
    }

    /// Early stopping as set (else a resumed run's); it needs a validation split.
    fn stopping(&self, data: &Dataset) -> Result<Option<EarlyStopping>> {
        let stopping = self.early_stopping.or(self
            .resume
            .as_deref()
            .and_then(|c| c.settings.early_stopping));
        if let Some(s) = &stopping {
            if s.patience == 0 {
                return Err(Error::setting("patience", "must be at least 1"));
            }
            if data.val.is_none() {
                return Err(Error::setting(
                    "patience",
                    "watches a validation set: hold one out (val_split) or give one",
                ));
            }
            check_monitor(s.monitor, data.task)?;
        }
        Ok(stopping)
    }

    /// What every checkpoint of the run repeats, for a backend set up as `setup`.
    fn settings(
        &self,
        data: &Dataset,
        setup: &TrainSetup,
        schedule: LrSchedule,
    ) -> Result<RunSettings> {
        Ok(RunSettings {
            arch: setup.arch.clone(),
            opt: setup.opt,
            schedule,
            seed: setup.seed,
            batch_size: setup.batch_size,
            rows: data.rows,
            cols: data.cols,
            channels: data.channels,
            layout: data.layout,
            input: setup.input.clone(),
            class_names: data.class_names.clone(),
            class_weight: self.weights_of_classes(self.resume.as_deref()),
            val_split: self.val_split.filter(|_| data.val.is_some()),
            early_stopping: self.stopping(data)?,
            source: data.source.clone(),
        })
    }

    /// The network this trainer builds on `data` (a resumed run's is its
    /// checkpoint's).
    pub(super) fn architecture(&self, data: &Dataset) -> Result<Architecture> {
        match &self.resume {
            Some(c) => Ok(c.settings.arch.clone()),
            None => self.fresh_architecture(data),
        }
    }

    /// The network of the flags on `data`: its inputs and outputs.
    fn fresh_architecture(&self, data: &Dataset) -> Result<Architecture> {
        Architecture::with_head(
            data.width(),
            &self.hidden,
            data.outputs(),
            self.activation,
            self.head_for(data)?,
        )?
        .with_dropout(self.dropout)
    }

    /// `fresh_setup`, and the RNG after its draws (it shuffles next).
    fn seeded_setup(&self, data: &Dataset) -> Result<(TrainSetup, Rng)> {
        let arch = self.fresh_architecture(data)?;
        let opt = Optimizer {
            lr: self.lr_schedule().lr,
            ..self.optimizer
        };
        opt.validate()?;
        let mut rng = Rng::new(self.seed);
        let normalize = self
            .normalize
            .unwrap_or(Normalize::default_for(data.dtype()));
        let input = InputTransform::fit(normalize, &data.train);
        check_input_range(&input, data)?;
        let setup = TrainSetup {
            params: arch.init_params(&mut rng),
            arch,
            opt,
            batch_size: self.batch_size,
            seed: self.seed,
            input,
        };
        Ok((setup, rng))
    }

    /// The schedule as set, else a constant rate (the optimizer's).
    fn lr_schedule(&self) -> LrSchedule {
        self.schedule
            .unwrap_or(LrSchedule::constant(self.optimizer.lr))
    }

    /// The backend's setup for a new network on `data`: parameters drawn from the
    /// seed, input statistics from the training split. Benchmarks start here.
    pub fn fresh_setup(&self, data: &Dataset) -> Result<TrainSetup> {
        Ok(self.seeded_setup(data)?.0)
    }

    /// A new network from the seed.
    pub(super) fn fresh(&self, data: &Dataset) -> Result<Plan> {
        let (setup, rng) = self.seeded_setup(data)?;
        let schedule = self.lr_schedule();
        let settings = self.settings(data, &setup, schedule)?;
        let config = TrainConfig {
            batch_size: self.batch_size,
            epochs: self.epochs,
            start_epoch: 0,
            resume_within: None,
            schedule,
            validation: data.val.is_some(),
            test_every_epoch: self.test_every_epoch,
            evaluate_test: self.evaluate_test,
            shuffle: self.shuffle,
            early_stopping: settings.early_stopping,
            best: Default::default(),
            head: setup.arch.head.clone(),
        };
        Ok(Plan {
            setup,
            rng,
            settings,
            history: Vec::new(),
            config,
        })
    }

    /// `c` continues on `data` with this trainer's batch size: the same inputs, at
    /// least the data's classes, and an unfinished epoch's batch size.
    fn check_resumable(&self, c: &Checkpoint, data: &Dataset) -> Result<()> {
        let shape = |channels, rows, cols| format!("{channels}×{rows}×{cols}");
        let (theirs, ours) = (
            shape(c.settings.channels, c.settings.rows, c.settings.cols),
            shape(data.channels, data.rows, data.cols),
        );
        if c.settings.arch.task() != data.task {
            return Err(Error::data(
                &data.dir,
                format!(
                    "holds {} targets; the resumed checkpoint is a {} model",
                    data.task.name(),
                    c.settings.arch.task().name()
                ),
            ));
        }
        let takes = c.settings.arrangement();
        if data.arrangement().conflicts_with(takes) {
            let what = "the resumed checkpoint";
            return Err(crate::data::arrangement_error(data, takes, what));
        }
        if theirs != ours
            || c.settings.input.dtype != data.dtype()
            || c.settings.arch.classes() < data.classes
            || (!data.task.has_classes() && c.settings.arch.classes() != data.classes)
        {
            return Err(Error::data(
                &data.dir,
                format!(
                    "the network of the resumed checkpoint takes {theirs} {} inputs in {} classes, \
                     the data has {ours} {} in {}",
                    c.settings.input.dtype.name(),
                    c.settings.arch.classes(),
                    data.dtype().name(),
                    data.classes
                ),
            ));
        }
        if c.state.progress.is_some() && self.batch_size != c.settings.batch_size {
            return Err(Error::setting(
                "batch_size",
                format!(
                    "{}: the checkpoint stopped inside an epoch of batches of {}; finish that \
                     epoch with its batch size first",
                    self.batch_size, c.settings.batch_size
                ),
            ));
        }
        Ok(())
    }

    /// Where `c` stopped, with this trainer's optimizer, schedule and batch size.
    pub(super) fn resumed(&self, c: &Checkpoint, data: &Dataset) -> Result<Plan> {
        self.check_resumable(c, data)?;
        let schedule = self.schedule.unwrap_or(c.settings.schedule);
        let opt = Optimizer {
            lr: schedule.lr,
            ..self.optimizer
        };
        opt.validate()?;
        let setup = TrainSetup {
            arch: c.settings.arch.clone(),
            opt,
            params: c.state.params.clone(),
            batch_size: self.batch_size,
            seed: c.settings.seed,
            input: c.settings.input.clone(),
        };
        let mut settings = self.settings(data, &setup, schedule)?;
        let theirs = &c.settings;
        settings.class_names = theirs.class_names.clone().or(settings.class_names);
        let val_split = theirs.val_split.filter(|_| data.val.is_some());
        settings.val_split = settings.val_split.or(val_split);
        let config = TrainConfig {
            batch_size: self.batch_size,
            epochs: self.epochs,
            start_epoch: c.state.epochs_trained,
            resume_within: c.state.progress,
            schedule,
            validation: data.val.is_some(),
            test_every_epoch: self.test_every_epoch,
            evaluate_test: self.evaluate_test,
            shuffle: self.shuffle,
            early_stopping: settings.early_stopping,
            best: c.state.best,
            head: c.settings.arch.head.clone(),
        };
        Ok(Plan {
            setup,
            rng: Rng::from_state(c.state.rng_state),
            settings,
            history: c.state.history.clone(),
            config,
        })
    }
}

/// The monitored figure must be one the task reports: a figure it never has
/// would never improve, and the run would keep no best model.
fn check_monitor(monitor: Monitor, task: Task) -> Result<()> {
    let reported = match monitor {
        Monitor::ValLoss => true,
        Monitor::ValAccuracy => task.has_accuracy(),
        Monitor::Val(f) => figures_of(task).contains(&f),
    };
    if reported {
        return Ok(());
    }
    let figures: Vec<&str> = [Monitor::ValLoss, Monitor::ValAccuracy]
        .into_iter()
        .filter(|&m| m != Monitor::ValAccuracy || task.has_accuracy())
        .map(Monitor::name)
        .chain(figures_of(task).iter().map(|f| f.val_name()))
        .collect();
    Err(Error::setting(
        "monitor",
        format!(
            "{} is not a figure of the {} task; it reports {}",
            monitor.name(),
            task.name(),
            figures.join(", ")
        ),
    ))
}

/// The input transform must keep every training value within f32's range once
/// shifted (both paths shift in f32): a feature spanning ±3e38 would become
/// infinite and the run would "diverge"; it is named instead.
fn check_input_range(input: &InputTransform, data: &Dataset) -> Result<()> {
    let Some((j, lo, hi)) = input.first_overflow(&data.train) else {
        return Ok(());
    };
    let names = data.source.as_ref().and_then(|s| s.feature_names.as_ref());
    let name = names
        .and_then(|n| n.get(j))
        .map_or(format!("{j}"), |n| format!("{n:?}"));
    Err(Error::data(
        &data.dir,
        format!(
            "feature {name} spans {:e} to {:e}: shifted by its {} statistics it leaves f32's \
             range (±3.4e38); rescale it, or train with normalize none",
            lo as f32,
            hi as f32,
            input.kind.name()
        ),
    ))
}

/// Each target value's mean and standard deviation over the training split (the
/// population's, as scikit-learn's `StandardScaler`), computed in f64; a target
/// that never varies is an error, since nothing can be learned of it.
fn target_statistics(data: &Dataset) -> Result<(Vec<f32>, Vec<f32>)> {
    let (values, width) = match &data.train.targets {
        crate::data::Targets::Values { values, width } => (values, *width),
        _ => return Ok((Vec::new(), Vec::new())),
    };
    let n = (values.len() / width.max(1)).max(1) as f64;
    let mut shift = Vec::with_capacity(width);
    let mut scale = Vec::with_capacity(width);
    for j in 0..width {
        let column = || values.iter().skip(j).step_by(width).map(|&v| v as f64);
        let mean = column().sum::<f64>() / n;
        let var = column().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let std = var.sqrt() as f32;
        if !(std > 0.0 && std.is_finite()) {
            let name = data
                .class_names
                .as_ref()
                .and_then(|n| n.get(j))
                .map_or(format!("{j}"), |n| format!("{n:?}"));
            // The setting names the way out, so each front end words it as its
            // own (the CLI's flag, Python's parameter).
            return Err(Error::setting(
                "normalize_targets",
                format!(
                    "cannot standardize target {name} of {}: it has the same value ({mean}) in \
                     every training example; turn it off to train on the targets as they are",
                    data.dir.display()
                ),
            ));
        }
        shift.push(mean as f32);
        scale.push(std);
    }
    Ok((shift, scale))
}
