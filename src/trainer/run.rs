//! A run as its caller sees it: what it is ([`RunInfo`]), what the caller hears
//! ([`RunObserver`]), and the one keeper of models ([`Keeper`]) that reads the
//! backend back at most once per epoch, for the best model early stopping returns
//! and for whatever checkpoint the caller asked for, from the same read-back.

use crate::backend::Backend;
use crate::checkpoint::{Checkpoint, RunSettings, TrainingState};
use crate::data::Dataset;
use crate::error::Result;
use crate::report::EpochReport;
use crate::rng::Rng;
use crate::train::{self, Interruption, Silent, TrainConfig};

/// A run as it starts, for observers: the backend it runs on, what its checkpoints
/// record, how the loop runs.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// The backend's description (device, kernel).
    pub backend: String,
    /// What every checkpoint of the run repeats (network, optimizer, schedule,
    /// seed, input, class names, validation split, early stopping).
    pub settings: RunSettings,
    /// The epochs a resumed run trained before this one.
    pub history: Vec<EpochReport>,
    /// The training loop's configuration.
    pub config: TrainConfig,
}

impl RunInfo {
    /// A checkpoint of `backend` as it stands after `epochs_trained` epochs, with
    /// the shuffling RNG at `rng_state` and the run's `history` (every epoch so
    /// far): one read-back of the parameters and the optimizer state.
    pub async fn checkpoint_async(
        &self,
        backend: &mut dyn Backend,
        epochs_trained: usize,
        rng_state: [u64; 4],
        history: &[EpochReport],
    ) -> Result<Checkpoint> {
        // Counted by a test: a run reads the model back at most once per epoch.
        log::debug!("reading the model back after epoch {epochs_trained}");
        let state = TrainingState {
            params: backend.parameters_async().await?,
            optimizer: backend.optimizer_state_async().await?,
            epochs_trained,
            rng_state,
            history: history.to_vec(),
            progress: None,
            best_model: None,
            best: history.last().map(|r| r.best_so_far).unwrap_or_default(),
        };
        Ok(Checkpoint {
            settings: self.settings.clone(),
            state,
        })
    }

    /// Whether the run keeps its best epoch's model (early stopping).
    pub fn keeps_best(&self) -> bool {
        self.config.early_stopping.is_some()
    }

    /// The epoch count after the last report.
    fn end_epoch(&self, history: &[EpochReport]) -> usize {
        history.last().map_or(self.config.start_epoch, |r| r.epoch)
    }
}

/// What a caller of [`crate::Trainer::fit_with`] hears as the run goes. Every
/// method has a default that ignores the event.
pub trait RunObserver {
    /// Once, when the run has its backend and before the first step.
    fn started(&mut self, _run: &RunInfo, _data: &Dataset) -> Result<()> {
        Ok(())
    }

    /// After each batch is recorded (not necessarily computed, on the GPU), with the
    /// epoch's running mean loss where the backend has it for free. Returning false
    /// stops the run after this step (an interrupt); the model returned then
    /// resumes exactly there.
    fn batch_done(
        &mut self,
        _epoch: usize,
        _done: usize,
        _total: usize,
        _loss: Option<f64>,
    ) -> bool {
        true
    }

    /// Whether `epoch_done` needs this epoch's checkpoint (to write or keep it).
    /// Reading a model back costs a device round trip, so ask only when needed.
    fn wants_checkpoint(&self, _report: &EpochReport) -> bool {
        false
    }

    /// After each epoch with finite losses, with the epoch's checkpoint where
    /// `wants_checkpoint` asked for it or the run reads it anyway (the best epoch,
    /// with early stopping).
    fn epoch_done(
        &mut self,
        _report: &EpochReport,
        _checkpoint: Option<&Checkpoint>,
    ) -> Result<()> {
        Ok(())
    }

    /// After `epoch_done`: whether to train another epoch (a stopping rule of the
    /// caller's own). A run this ends is finished, not interrupted: the model
    /// returned is the last epoch's.
    fn keep_training(&mut self, _report: &EpochReport) -> bool {
        true
    }
}

impl RunObserver for Silent {}

/// A closure called with each epoch's figures is an observer too:
/// `trainer.fit_with(data, &mut |r: &EpochReport| println!("{}", r.epoch))`.
impl<F: FnMut(&EpochReport)> RunObserver for F {
    fn epoch_done(&mut self, report: &EpochReport, _: Option<&Checkpoint>) -> Result<()> {
        self(report);
        Ok(())
    }
}

/// The loop's observer in a [`crate::Trainer`] run: passes every event on to the
/// caller's observer, keeps the history, and keeps the models the run returns:
/// the best epoch's with early stopping, else the last epoch's where it was read
/// anyway. Each epoch's model is read back at most once, whoever needs it.
pub(super) struct Keeper<'a> {
    observer: &'a mut dyn RunObserver,
    run: &'a RunInfo,
    history: Vec<EpochReport>,
    best: Option<Checkpoint>,
    last: Option<Checkpoint>,
}

impl<'a> Keeper<'a> {
    /// `resumed`: the checkpoint a resumed run continues, whose best epoch (where it
    /// carries one) stays the best until an epoch of this run beats it.
    pub(super) fn new(
        run: &'a RunInfo,
        observer: &'a mut dyn RunObserver,
        resumed: Option<&Checkpoint>,
    ) -> Self {
        let best = resumed
            .filter(|_| run.keeps_best())
            .and_then(Checkpoint::best_checkpoint)
            .map(|mut c| {
                c.settings = run.settings.clone();
                c
            });
        Keeper {
            observer,
            run,
            history: run.history.clone(),
            best,
            last: None,
        }
    }

    /// `c` carrying the best epoch's model, under early stopping, where it is
    /// earlier than `c`.
    fn with_best(&self, c: Checkpoint) -> Checkpoint {
        match self.run.keeps_best() {
            true => c.with_best(self.best.as_ref()),
            false => c,
        }
    }

    /// The model of an interrupted run: the backend after its last step, with the
    /// unfinished epoch's progress, so that resuming it gives the same bits.
    pub(super) async fn interrupted(
        &self,
        backend: &mut dyn Backend,
        stop: &Interruption,
    ) -> Result<Checkpoint> {
        let (epochs, rng_state) = (stop.epochs_done, stop.rng_state);
        let mut c = self
            .run
            .checkpoint_async(backend, epochs, rng_state, &self.history)
            .await?;
        c.state.progress = Some(stop.progress);
        c.state.best = stop.best;
        Ok(self.with_best(c))
    }

    /// The model a finished run returns, and the backend set to it: the best
    /// epoch's with early stopping, else the last epoch's (read back only if no
    /// one read it at that epoch).
    pub(super) async fn finished(
        &mut self,
        backend: &mut dyn Backend,
        rng: &Rng,
    ) -> Result<Checkpoint> {
        if let (true, Some(best)) = (self.run.keeps_best(), self.best.take()) {
            backend.set_parameters(&best.state.params)?;
            return Ok(best);
        }
        let epochs = self.run.end_epoch(&self.history);
        match self.last.take() {
            Some(last) if last.state.epochs_trained == epochs => Ok(last),
            _ => {
                self.run
                    .checkpoint_async(backend, epochs, rng.state(), &self.history)
                    .await
            }
        }
    }

    /// The last epoch's report (the whole run's, a resumed one's earlier epochs included).
    pub(super) fn last_report(&self) -> Option<&EpochReport> {
        self.history.last()
    }
}

impl train::Observer for Keeper<'_> {
    fn batch_done(&mut self, epoch: usize, done: usize, total: usize, loss: Option<f64>) -> bool {
        self.observer.batch_done(epoch, done, total, loss)
    }

    fn epoch_done<'b>(
        &'b mut self,
        r: &'b EpochReport,
        backend: &'b mut dyn Backend,
        rng: &'b Rng,
    ) -> crate::backend::Pending<'b, ()> {
        Box::pin(async move {
            self.history.push(r.clone());
            let keep_best = r.best && self.run.keeps_best();
            let wanted = self.observer.wants_checkpoint(r);
            let model = match keep_best || wanted {
                true => {
                    let c = self
                        .run
                        .checkpoint_async(backend, r.epoch, rng.state(), &self.history)
                        .await?;
                    Some(if keep_best { c } else { self.with_best(c) })
                }
                false => None,
            };
            self.observer.epoch_done(r, model.as_ref())?;
            // Under early stopping only the best is worth its memory.
            match self.run.keeps_best() {
                true if keep_best => self.best = model,
                true => {}
                false => self.last = model,
            }
            Ok(())
        })
    }

    fn keep_training(&mut self, report: &EpochReport) -> bool {
        self.observer.keep_training(report)
    }
}
