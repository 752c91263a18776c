//! How a run starts: a fresh network from the seed, or a checkpoint continued
//! exactly where it stopped; either way the backend's setup, the shuffling RNG,
//! the settings every checkpoint of the run repeats, and the loop's configuration.

use std::sync::Arc;

use super::Trainer;
use crate::backend::TrainSetup;
use crate::checkpoint::Checkpoint;
use crate::choice::Choice;
use crate::data::normalize::{InputTransform, Normalize};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::network::Architecture;
use crate::optimizer::{Optimizer, OptimizerState};
use crate::report::EarlyStopping;
use crate::rng::Rng;
use crate::schedule::LrSchedule;
use crate::train::TrainConfig;

/// How a run starts: the backend's setup, the RNG after initialisation, the
/// checkpoint fields, the loop's configuration.
pub(super) struct Plan {
    pub(super) setup: TrainSetup,
    pub(super) rng: Rng,
    pub(super) template: Checkpoint,
    pub(super) config: TrainConfig,
}

impl Trainer {
    /// `data` with the validation split this trainer asks for, held out with the
    /// run's seed (a resumed run's split where this trainer names none).
    pub(super) fn with_validation(&self, data: Arc<Dataset>) -> Result<Arc<Dataset>> {
        let resumed = self.resume.as_deref();
        let fraction = self.val_split.or(resumed.and_then(|c| c.val_split));
        let (Some(fraction), None) = (fraction, &data.val) else {
            return Ok(data);
        };
        let seed = resumed.map_or(self.seed, |c| c.seed);
        let mut data = Arc::unwrap_or_clone(data);
        data.hold_out_validation(fraction, seed)?;
        Ok(Arc::new(data))
    }

    /// Early stopping as set (else a resumed run's); it needs a validation split.
    fn stopping(&self, data: &Dataset) -> Result<Option<EarlyStopping>> {
        let stopping = self
            .early_stopping
            .or(self.resume.as_deref().and_then(|c| c.early_stopping));
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
        }
        Ok(stopping)
    }

    /// The checkpoint fields every run fills the same way, before training.
    fn template(&self, data: &Dataset, setup: &TrainSetup, seed: u64) -> Result<Checkpoint> {
        Ok(Checkpoint {
            arch: setup.arch.clone(),
            opt: setup.opt,
            params: Vec::new(),
            state: OptimizerState::new(setup.opt.kind, 0),
            epochs_trained: 0,
            seed,
            rng_state: Rng::new(seed).state(),
            batch_size: setup.batch_size,
            image_rows: data.rows,
            image_cols: data.cols,
            image_channels: data.channels,
            layout: data.layout,
            input: setup.input.clone(),
            class_names: data.class_names.clone(),
            history: Vec::new(),
            progress: None,
            schedule: LrSchedule::constant(setup.opt.lr),
            val_split: self.val_split.filter(|_| data.val.is_some()),
            early_stopping: self.stopping(data)?,
            best: Default::default(),
        })
    }

    /// A new network from the seed.
    pub(super) fn fresh(&self, data: &Dataset) -> Result<Plan> {
        let arch = Architecture::new(
            data.width(),
            &self.hidden,
            data.classes,
            self.activation,
            self.loss,
        )?
        .with_dropout(self.dropout)?;
        let schedule = self
            .schedule
            .unwrap_or(LrSchedule::constant(self.optimizer.lr));
        let opt = Optimizer {
            lr: schedule.lr,
            ..self.optimizer
        };
        opt.validate()?;
        let mut rng = Rng::new(self.seed);
        let normalize = self
            .normalize
            .unwrap_or(Normalize::default_for(data.dtype()));
        let setup = TrainSetup {
            params: arch.init_params(&mut rng),
            arch,
            opt,
            batch_size: self.batch_size,
            seed: self.seed,
            input: InputTransform::fit(normalize, &data.train),
        };
        let mut template = self.template(data, &setup, self.seed)?;
        template.schedule = schedule;
        let config = TrainConfig {
            batch_size: self.batch_size,
            epochs: self.epochs,
            start_epoch: 0,
            resume_within: None,
            schedule,
            validation: data.val.is_some(),
            test_every_epoch: self.test_every_epoch,
            early_stopping: template.early_stopping,
            best: Default::default(),
        };
        Ok(Plan {
            setup,
            rng,
            template,
            config,
        })
    }

    /// Where `c` stopped, with this trainer's optimizer, schedule and batch size.
    pub(super) fn resumed(&self, c: &Checkpoint, data: &Dataset) -> Result<Plan> {
        let shape = |channels, rows, cols| format!("{channels}×{rows}×{cols}");
        let (theirs, ours) = (
            shape(c.image_channels, c.image_rows, c.image_cols),
            shape(data.channels, data.rows, data.cols),
        );
        if theirs != ours || c.input.dtype != data.dtype() || c.arch.classes() < data.classes {
            return Err(Error::data(
                &data.dir,
                format!(
                    "the network of the resumed checkpoint takes {theirs} {} inputs in {} classes, \
                     the data has {ours} {} in {}",
                    c.input.dtype.name(),
                    c.arch.classes(),
                    data.dtype().name(),
                    data.classes
                ),
            ));
        }
        if c.progress.is_some() && self.batch_size != c.batch_size {
            return Err(Error::setting(
                "batch_size",
                format!(
                    "{}: the checkpoint stopped inside an epoch of batches of {}; finish that \
                     epoch with its batch size first",
                    self.batch_size, c.batch_size
                ),
            ));
        }
        let schedule = self.schedule.unwrap_or(c.schedule);
        let opt = Optimizer {
            lr: schedule.lr,
            ..self.optimizer
        };
        opt.validate()?;
        let setup = TrainSetup {
            arch: c.arch.clone(),
            opt,
            params: c.params.clone(),
            batch_size: self.batch_size,
            seed: c.seed,
            input: c.input.clone(),
        };
        let mut template = self.template(data, &setup, c.seed)?;
        template.schedule = schedule;
        template.history = c.history.clone();
        template.class_names = c.class_names.clone().or(template.class_names);
        template.val_split = template
            .val_split
            .or(c.val_split.filter(|_| data.val.is_some()));
        let config = TrainConfig {
            batch_size: self.batch_size,
            epochs: self.epochs,
            start_epoch: c.epochs_trained,
            resume_within: c.progress,
            schedule,
            validation: data.val.is_some(),
            test_every_epoch: self.test_every_epoch,
            early_stopping: template.early_stopping,
            best: c.best,
        };
        Ok(Plan {
            setup,
            rng: Rng::from_state(c.rng_state),
            template,
            config,
        })
    }
}
