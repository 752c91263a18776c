//! The library's front door: describe a network, train it on a data set on the
//! chosen device, and use or save the result — what `gpu-mlp train`, `eval` and
//! `predict` do, from Rust.
//!
//! ```no_run
//! use gpu_mlp::{data, Activation, Device, Model, Trainer};
//!
//! # fn main() -> gpu_mlp::Result<()> {
//! let data = data::load("/usr/share/datasets/fashion-mnist".as_ref(), &Default::default())?;
//! let model = Trainer::new(&[128])
//!     .activation(Activation::Relu)
//!     .epochs(5)
//!     .device(Device::Auto)
//!     .fit(data)?;
//! println!("{:.2}%", 100.0 * model.history().last().unwrap().test_accuracy.unwrap());
//! model.save("model.safetensors".as_ref())?;
//!
//! let model = Model::load("model.safetensors".as_ref())?;
//! let image = vec![0u8; 784];
//! println!("class {}", model.predict(&image)?);
//! # Ok(())
//! # }
//! ```

use std::path::Path;
use std::sync::Arc;

use crate::checkpoint::Checkpoint;
use crate::choice::Choice;
use crate::cpu::CpuBackend;
use crate::data::normalize::{InputTransform, Normalize};
use crate::data::{Dataset, SplitKind};
use crate::error::{Error, Result};
use crate::eval::EvalReport;
use crate::gpu::context::{software_only, BackendChoice, GpuContext};
use crate::gpu::GpuBackend;
use crate::gpu::GpuOptions;
use crate::model::{Activation, Architecture, Loss};
use crate::optimizer::OptimizerState;
use crate::optimizer::{Optimizer, OptimizerKind};
use crate::rng::Rng;
use crate::schedule::LrSchedule;
#[cfg(not(target_arch = "wasm32"))]
use crate::train::Silent;
use crate::train::{
    self, Backend, EarlyStopping, EpochReport, Monitor, Observer, Pending, TrainConfig, TrainSetup,
    DEFAULT_BATCH_SIZE,
};

/// Where training (and evaluation) runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// A hardware GPU when one exists, else the CPU: a software adapter (lavapipe)
    /// is slower than the CPU path, so `Auto` never picks one.
    #[default]
    Auto,
    /// The CPU reference path.
    Cpu,
    /// A GPU through this wgpu backend, software adapters included, optionally the
    /// adapter whose name contains the given text.
    Gpu(BackendChoice, Option<String>),
}

impl Device {
    /// The device `Auto` stands for on this machine; others are themselves.
    pub fn resolve(&self) -> Device {
        match self {
            Device::Auto => match software_only() {
                None => Device::Gpu(BackendChoice::Auto, None),
                Some(_) => Device::Cpu,
            },
            other => other.clone(),
        }
    }

    /// A training backend for `setup` on `data`, on this device.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn backend(&self, data: &Arc<Dataset>, setup: TrainSetup) -> Result<Box<dyn Backend>> {
        pollster::block_on(self.open_backend(data, setup, &GpuOptions::default()))
    }

    /// [`Device::backend`] with the GPU path's options (matmul variant, binding
    /// budget), awaiting the device (as a browser requires).
    pub async fn open_backend(
        &self,
        data: &Arc<Dataset>,
        setup: TrainSetup,
        options: &GpuOptions,
    ) -> Result<Box<dyn Backend>> {
        Ok(match self.resolve() {
            Device::Gpu(choice, name) => {
                let ctx = GpuContext::open(choice, name.as_deref()).await?;
                Box::new(GpuBackend::open(ctx, Arc::clone(data), setup, options).await?)
            }
            _ => Box::new(CpuBackend::new(Arc::clone(data), setup)?),
        })
    }
}

/// A network description and the options to train it with; [`Trainer::fit`] trains.
///
/// Defaults are the CLI's: sigmoid, cross-entropy, SGD at its default rate, batch
/// 100, 5 epochs, seed 0, a constant learning rate, no dropout, `Device::Auto`.
#[derive(Clone, Debug)]
pub struct Trainer {
    hidden: Vec<usize>,
    activation: Activation,
    loss: Loss,
    optimizer: Optimizer,
    schedule: Option<LrSchedule>,
    dropout: f32,
    batch_size: usize,
    epochs: usize,
    seed: u64,
    device: Device,
    normalize: Option<Normalize>,
    gpu_options: GpuOptions,
    resume: Option<Box<Checkpoint>>,
    val_split: Option<f64>,
    early_stopping: Option<EarlyStopping>,
    test_every_epoch: bool,
}

impl Trainer {
    /// A network with these hidden layer widths (empty: softmax regression).
    pub fn new(hidden: &[usize]) -> Self {
        Trainer {
            hidden: hidden.to_vec(),
            activation: Activation::Sigmoid,
            loss: Loss::CrossEntropy,
            optimizer: Optimizer::new(OptimizerKind::Sgd, None, 0.0),
            schedule: None,
            dropout: 0.0,
            batch_size: DEFAULT_BATCH_SIZE,
            epochs: 5,
            seed: 0,
            device: Device::Auto,
            normalize: None,
            gpu_options: GpuOptions::default(),
            resume: None,
            val_split: None,
            early_stopping: None,
            test_every_epoch: false,
        }
    }

    /// The hidden layers' activation.
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// The output loss (after softmax).
    pub fn loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }

    /// The optimizer and its settings (learning rate, momentum, weight decay).
    pub fn optimizer(mut self, optimizer: Optimizer) -> Self {
        self.optimizer = optimizer;
        self
    }

    /// A learning-rate schedule; its `lr` replaces the optimizer's.
    pub fn schedule(mut self, schedule: LrSchedule) -> Self {
        self.schedule = Some(schedule);
        self
    }

    /// Inverted dropout on every hidden layer's output while training.
    pub fn dropout(mut self, p: f32) -> Self {
        self.dropout = p;
        self
    }

    /// How features are scaled (statistics from the training split); default
    /// `Unit` for byte features, `Standard` for floats.
    pub fn normalize(mut self, normalize: Normalize) -> Self {
        self.normalize = Some(normalize);
        self
    }

    /// Examples per step.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Passes over the training split.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// The seed of the initial weights, the shuffles and the dropout masks: the
    /// same seed on the same device gives the same bits.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Where to train.
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// The GPU path's options (matmul variant, binding budget).
    pub fn gpu_options(mut self, options: GpuOptions) -> Self {
        self.gpu_options = options;
        self
    }

    /// Continues `checkpoint` exactly where it stopped: its network, parameters,
    /// optimizer state, RNG position, input transform, history and early-stopping
    /// state (the network settings of this builder are not used; its optimizer,
    /// schedule and batch size are, so give the checkpoint's unless they change).
    /// `epochs` then counts the epochs to add.
    pub fn resume(mut self, checkpoint: Checkpoint) -> Self {
        self.resume = Some(Box::new(checkpoint));
        self
    }

    /// Holds out ⌈fraction·N⌉ training examples (seeded) for validation every epoch,
    /// unless the data set has a validation split already.
    pub fn val_split(mut self, fraction: f64) -> Self {
        self.val_split = Some(fraction);
        self
    }

    /// Stops when the monitored validation figure has not improved for `patience`
    /// epochs; the model returned is then the best epoch's.
    pub fn early_stopping(mut self, patience: usize, monitor: Monitor) -> Self {
        self.early_stopping = Some(EarlyStopping { patience, monitor });
        self
    }

    /// Evaluates the test split every epoch even when a validation split is there
    /// (otherwise it is evaluated once, at the end, with the model returned).
    pub fn test_every_epoch(mut self, every: bool) -> Self {
        self.test_every_epoch = every;
        self
    }

    /// Trains on `data`'s training split, evaluating its test split after every
    /// epoch (or, with a validation split, once at the end), and returns the trained model.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn fit(&self, data: impl Into<Arc<Dataset>>) -> Result<Model> {
        self.fit_with(data, &mut Silent)
    }

    /// [`Trainer::fit`], telling `observer` about the run, every batch and every
    /// epoch; an observer that returns false from `batch_done` stops the run, and the
    /// model returned records how far it got (saved, it resumes there).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn fit_with(
        &self,
        data: impl Into<Arc<Dataset>>,
        observer: &mut dyn Observer,
    ) -> Result<Model> {
        pollster::block_on(self.fit_async(data.into(), observer))
    }

    /// [`Trainer::fit_with`] as a future: the one implementation, which `fit_with`
    /// waits for natively and a browser's event loop drives.
    pub async fn fit_async(
        &self,
        data: Arc<Dataset>,
        observer: &mut dyn Observer,
    ) -> Result<Model> {
        let data = self.with_validation(data)?;
        let plan = match &self.resume {
            Some(c) => self.resumed(c, &data)?,
            None => self.fresh(&data)?,
        };
        let mut backend = self
            .device
            .open_backend(&data, plan.setup.clone(), &self.gpu_options)
            .await?;
        if let Some(c) = &self.resume {
            backend.set_optimizer_state(&c.state)?;
        }
        let run = RunInfo {
            backend: backend.describe(),
            template: plan.template,
            config: plan.config,
        };
        observer.started(&run, &data)?;
        let mut rng = plan.rng;
        let mut keep = KeepBest {
            inner: observer,
            run: &run,
            history: run.template.history.clone(),
            best: None,
        };
        let cfg = &run.config;
        let n = data.train.len();
        let outcome = train::train_async(backend.as_mut(), n, cfg, &mut rng, &mut keep).await?;
        let (history, best) = (keep.history, keep.best);
        if let Some(stop) = &outcome.interrupted {
            let (epochs, rng_state) = (stop.epochs_done, stop.rng_state);
            let mut c = run
                .checkpoint_async(backend.as_mut(), epochs, rng_state, &history)
                .await?;
            c.progress = Some(stop.progress);
            c.best = stop.best;
            return Ok(Model::with(c, None, None));
        }
        let last = history.last().cloned();
        let mut model = match (cfg.early_stopping, best) {
            (Some(_), Some(best)) => {
                backend.set_parameters(&best.params)?;
                best
            }
            _ => {
                let epochs = run.end_epoch(&history);
                run.checkpoint_async(backend.as_mut(), epochs, rng.state(), &history)
                    .await?
            }
        };
        // The test figures of the model returned: the last epoch's, unless the test
        // split was not evaluated every epoch or the model is an earlier epoch's.
        let test = match last {
            Some(r) if r.test_loss.is_some() && cfg.early_stopping.is_none() => TestFigures {
                epoch: r.epoch,
                loss: r.test_loss.unwrap_or_default(),
                accuracy: r.test_accuracy.unwrap_or_default(),
            },
            _ => {
                let t = backend.evaluate_async(SplitKind::Test).await?;
                TestFigures {
                    epoch: model.epochs_trained,
                    loss: t.mean_loss(),
                    accuracy: t.accuracy(),
                }
            }
        };
        model.progress = None;
        Ok(Model::with(model, Some(test), outcome.stopped_early))
    }

    /// `data` with the validation split this trainer asks for, held out with the
    /// run's seed (a resumed run's split where this trainer names none).
    fn with_validation(&self, data: Arc<Dataset>) -> Result<Arc<Dataset>> {
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
    fn fresh(&self, data: &Dataset) -> Result<Plan> {
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
    fn resumed(&self, c: &Checkpoint, data: &Dataset) -> Result<Plan> {
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

/// How a run starts: the backend's setup, the RNG after initialisation, the
/// checkpoint fields, the loop's configuration.
struct Plan {
    setup: TrainSetup,
    rng: Rng,
    template: Checkpoint,
    config: TrainConfig,
}

/// A run as it starts, for observers: the backend it runs on, what its checkpoints
/// record, how the loop runs.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// The backend's description (device, kernel).
    pub backend: String,
    /// Every checkpoint field that does not change during the run (network,
    /// optimizer, schedule, seed, input, class names, validation split, early
    /// stopping), and the history of a resumed run.
    pub template: Checkpoint,
    /// The training loop's configuration.
    pub config: TrainConfig,
}

impl RunInfo {
    /// A checkpoint of `backend` as it stands after `epochs_trained` epochs, with
    /// the shuffling RNG at `rng_state` and the run's `history` (every epoch so far).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn checkpoint(
        &self,
        backend: &mut dyn Backend,
        epochs_trained: usize,
        rng_state: [u64; 4],
        history: &[EpochReport],
    ) -> Result<Checkpoint> {
        pollster::block_on(self.checkpoint_async(backend, epochs_trained, rng_state, history))
    }

    /// `checkpoint`, awaiting the read-backs.
    pub async fn checkpoint_async(
        &self,
        backend: &mut dyn Backend,
        epochs_trained: usize,
        rng_state: [u64; 4],
        history: &[EpochReport],
    ) -> Result<Checkpoint> {
        Ok(Checkpoint {
            params: backend.parameters_async().await?,
            state: backend.optimizer_state_async().await?,
            epochs_trained,
            rng_state,
            history: history.to_vec(),
            best: history.last().map(|r| r.best_so_far).unwrap_or_default(),
            ..self.template.clone()
        })
    }

    /// The epoch count after the last report.
    fn end_epoch(&self, history: &[EpochReport]) -> usize {
        history.last().map_or(self.config.start_epoch, |r| r.epoch)
    }
}

/// Passes everything to the caller's observer, keeping the history and, with early
/// stopping, the best epoch's checkpoint (the model a run returns).
struct KeepBest<'a> {
    inner: &'a mut dyn Observer,
    run: &'a RunInfo,
    history: Vec<EpochReport>,
    best: Option<Checkpoint>,
}

impl Observer for KeepBest<'_> {
    fn batch_done(&mut self, epoch: usize, done: usize, total: usize, loss: Option<f64>) -> bool {
        self.inner.batch_done(epoch, done, total, loss)
    }

    fn epoch_done<'a>(
        &'a mut self,
        r: &'a EpochReport,
        backend: &'a mut dyn Backend,
        rng: &'a Rng,
    ) -> Pending<'a, ()> {
        Box::pin(async move {
            self.history.push(r.clone());
            if r.best && self.run.config.early_stopping.is_some() {
                let c = self
                    .run
                    .checkpoint_async(backend, r.epoch, rng.state(), &self.history)
                    .await?;
                self.best = Some(c);
            }
            self.inner.epoch_done(r, backend, rng).await
        })
    }
}

/// The test loss and accuracy of the model a run returns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestFigures {
    /// The epoch whose model they measure.
    pub epoch: usize,
    /// Mean test loss.
    pub loss: f64,
    /// Test accuracy in [0, 1].
    pub accuracy: f64,
}

/// A trained network: its architecture, parameters and training history, as a
/// checkpoint file holds them (the same file `gpu-mlp train --save` writes).
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    checkpoint: Checkpoint,
    test: Option<TestFigures>,
    stopped_early: Option<usize>,
}

impl Model {
    /// Reads a checkpoint written by [`Model::save`] or `gpu-mlp train --save`.
    pub fn load(path: &Path) -> Result<Model> {
        Checkpoint::load(path).map(Model::from)
    }

    fn with(
        checkpoint: Checkpoint,
        test: Option<TestFigures>,
        stopped_early: Option<usize>,
    ) -> Model {
        Model {
            checkpoint,
            test,
            stopped_early,
        }
    }

    /// The test figures of this model, where it was just trained (not for a
    /// loaded model, nor one whose run was interrupted).
    pub fn test(&self) -> Option<TestFigures> {
        self.test
    }

    /// The best epoch, where early stopping ended the run that trained this model.
    pub fn stopped_early(&self) -> Option<usize> {
        self.stopped_early
    }

    /// Whether the run stopped inside an epoch (an interrupt): saved, the model
    /// resumes exactly there.
    pub fn interrupted(&self) -> bool {
        self.checkpoint.progress.is_some()
    }

    /// Reads a PyTorch state dict of `nn.Linear` layers saved with safetensors (no
    /// gpu-mlp metadata): sizes from the tensor shapes, `activation` between layers.
    pub fn from_state_dict(path: &Path, activation: Activation) -> Result<Model> {
        crate::state_dict::load_state_dict(path, activation).map(Model::from)
    }

    /// Writes the model (with its optimizer state, so training can resume) as
    /// safetensors, atomically: a failed write leaves any earlier file intact.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.checkpoint.save(path)
    }

    /// The network's layer sizes, activation and loss.
    pub fn architecture(&self) -> &Architecture {
        &self.checkpoint.arch
    }

    /// One report per trained epoch: losses, accuracies, learning rate, time.
    pub fn history(&self) -> &[EpochReport] {
        &self.checkpoint.history
    }

    /// Class names where the data names them (CIFAR, string CSV labels,
    /// Fashion-MNIST, or the caller's).
    pub fn class_names(&self) -> Option<&[String]> {
        self.checkpoint.class_names.as_deref()
    }

    /// Everything the checkpoint file holds.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Class probabilities (softmax of the logits) of each image in `images`
    /// (concatenated, one byte per pixel, as the training data), on the CPU.
    pub fn probabilities(&self, images: &[u8]) -> Result<Vec<Vec<f32>>> {
        crate::eval::probabilities(&self.checkpoint, images)
    }

    /// Class probabilities of each row of `features` (concatenated, `inputs()`
    /// floats each): a model trained on float features.
    pub fn probabilities_f32(&self, features: &[f32]) -> Result<Vec<Vec<f32>>> {
        crate::eval::probabilities_f32(&self.checkpoint, features)
    }

    /// The most likely class of one image.
    pub fn predict(&self, image: &[u8]) -> Result<usize> {
        let pixels = self.checkpoint.arch.inputs();
        if image.len() != pixels {
            return Err(Error::Usage(format!(
                "an image of {} bytes; the network takes {pixels}",
                image.len()
            )));
        }
        Ok(train::argmax(&self.probabilities(image)?[0]))
    }

    /// Loss, accuracy, per-class accuracy and confusion matrix on a split of `data`,
    /// on `device`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn evaluate(
        &self,
        data: impl Into<Arc<Dataset>>,
        split: SplitKind,
        device: &Device,
    ) -> Result<EvalReport> {
        pollster::block_on(self.evaluate_async(data.into(), split, device))
    }

    /// `evaluate`, awaiting the device.
    pub async fn evaluate_async(
        &self,
        data: Arc<Dataset>,
        split: SplitKind,
        device: &Device,
    ) -> Result<EvalReport> {
        crate::eval::check_data_fits(&self.checkpoint, Path::new("the model"), &data)?;
        let setup = crate::eval::evaluation_setup(&self.checkpoint);
        let options = GpuOptions::default();
        let mut backend = device.open_backend(&data, setup, &options).await?;
        let labels = &data.split(split).labels;
        crate::eval::evaluate_async(backend.as_mut(), split, labels, data.classes).await
    }
}

impl From<Checkpoint> for Model {
    fn from(c: Checkpoint) -> Self {
        Model::with(c, None, None)
    }
}
