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

mod device;
mod model;
mod plan;
mod run;

use std::sync::Arc;

use crate::backend::{Backend, DEFAULT_BATCH_SIZE};
use crate::checkpoint::Checkpoint;
use crate::data::normalize::Normalize;
use crate::data::{Dataset, SplitKind};
use crate::error::Result;
use crate::gpu::GpuOptions;
use crate::network::Activation;
use crate::optimizer::{Optimizer, OptimizerKind};
use crate::report::{EarlyStopping, EpochReport, Monitor};
use crate::schedule::LrSchedule;
use crate::scores::score_split;
use crate::task::{ClassWeight, Loss, Task, DEFAULT_HUBER_DELTA, DEFAULT_THRESHOLD};
#[cfg(not(target_arch = "wasm32"))]
use crate::train::Silent;
use crate::train::{self, TrainConfig};
pub use device::Device;
pub use model::{Model, TestFigures};
use run::Keeper;
pub use run::{RunInfo, RunObserver};

/// A network description and the options to train it with; [`Trainer::fit`] trains.
///
/// Defaults are the CLI's: sigmoid, cross-entropy, SGD at its default rate, batch
/// 100, 5 epochs, seed 0, a constant learning rate, no dropout, `Device::Auto`.
#[derive(Clone, Debug)]
pub struct Trainer {
    hidden: Vec<usize>,
    activation: Activation,
    task: Option<Task>,
    loss: Option<Loss>,
    head: HeadSettings,
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
    evaluate_test: bool,
    shuffle: bool,
}

/// What a trainer sets of the output head beyond task and loss.
#[derive(Clone, Debug, PartialEq)]
struct HeadSettings {
    huber_delta: f32,
    pos_weight: Vec<f32>,
    threshold: f32,
    normalize_targets: bool,
    class_weight: Option<ClassWeight>,
}

impl Default for HeadSettings {
    fn default() -> Self {
        HeadSettings {
            huber_delta: DEFAULT_HUBER_DELTA,
            pos_weight: Vec::new(),
            threshold: DEFAULT_THRESHOLD,
            normalize_targets: true,
            class_weight: None,
        }
    }
}

/// The hidden layers of [`Trainer::default`]: one of 128, the command line's.
pub const DEFAULT_HIDDEN: &[usize] = &[128];

impl Default for Trainer {
    /// [`DEFAULT_HIDDEN`] with every other default.
    fn default() -> Self {
        Trainer::new(DEFAULT_HIDDEN)
    }
}

impl Trainer {
    /// A network with these hidden layer widths (empty: softmax regression).
    pub fn new(hidden: &[usize]) -> Self {
        Trainer {
            hidden: hidden.to_vec(),
            activation: Activation::Sigmoid,
            task: None,
            loss: None,
            head: HeadSettings::default(),
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
            evaluate_test: true,
            shuffle: true,
        }
    }

    /// The hidden layers' activation.
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// The task (else the data's: `Dataset::task`); data of another task is
    /// read as this one where it can be (`Dataset::with_task`).
    pub fn task(mut self, task: Task) -> Self {
        self.task = Some(task);
        self
    }

    /// The loss (else the task's default: cross-entropy, bce, mse).
    pub fn loss(mut self, loss: Loss) -> Self {
        self.loss = Some(loss);
        self
    }

    /// Huber's δ, in standardized target units (default 1).
    pub fn huber_delta(mut self, delta: f32) -> Self {
        self.head.huber_delta = delta;
        self
    }

    /// Binary and multilabel: the weight of positive examples, one for every
    /// output or one per output (PyTorch's `pos_weight`).
    pub fn pos_weight(mut self, weights: Vec<f32>) -> Self {
        self.head.pos_weight = weights;
        self
    }

    /// Binary and multilabel: the probability above which an output is positive
    /// (default 0.5).
    pub fn threshold(mut self, threshold: f32) -> Self {
        self.head.threshold = threshold;
        self
    }

    /// Regress: whether targets are standardized with the training split's mean
    /// and deviation (default true; predictions come back in the targets' units).
    pub fn normalize_targets(mut self, on: bool) -> Self {
        self.head.normalize_targets = on;
        self
    }

    /// Weighs each training example by its class (classify, binary).
    pub fn class_weight(mut self, weights: ClassWeight) -> Self {
        self.head.class_weight = Some(weights);
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

    /// Whether the data's test split is evaluated (default true). A caller with no
    /// test split of its own (an estimator's `fit`) gives the data set a stand-in
    /// and turns this off: the model then has no test figures.
    pub fn evaluate_test(mut self, on: bool) -> Self {
        self.evaluate_test = on;
        self
    }

    /// Whether each epoch visits the training examples in a new seeded order
    /// (default true); off, every epoch takes them in their order.
    pub fn shuffle(mut self, on: bool) -> Self {
        self.shuffle = on;
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
        observer: &mut dyn RunObserver,
    ) -> Result<Model> {
        pollster::block_on(self.fit_async(data.into(), observer))
    }

    /// [`Trainer::fit_with`] as a future: the one implementation, which `fit_with`
    /// waits for natively and a browser's event loop drives.
    pub async fn fit_async(
        &self,
        data: Arc<Dataset>,
        observer: &mut dyn RunObserver,
    ) -> Result<Model> {
        let data = self.with_validation(data)?;
        // The device's limits first: a network too large for it is refused before
        // its parameters take host memory.
        let device = self.device.open().await?;
        let (arch, options) = (self.architecture(&data)?, &self.gpu_options);
        device.check_fits(&data, &arch, self.batch_size, options)?;
        let plan = match &self.resume {
            Some(c) => self.resumed(c, &data)?,
            None => self.fresh(&data)?,
        };
        let mut backend = device.backend(&data, plan.setup.clone(), options).await?;
        if let Some(c) = &self.resume {
            backend.set_optimizer_state(&c.state.optimizer)?;
        }
        let run = RunInfo {
            backend: backend.describe(),
            settings: plan.settings,
            history: plan.history,
            config: plan.config,
        };
        observer.started(&run, &data)?;
        let mut rng = plan.rng;
        let mut keeper = Keeper::new(&run, observer, self.resume.as_deref());
        let cfg = &run.config;
        let outcome =
            train::train_async(backend.as_mut(), &data, cfg, &mut rng, &mut keeper).await?;
        if let Some(stop) = &outcome.interrupted {
            let model = keeper.interrupted(backend.as_mut(), stop).await?;
            return Ok(Model::with(model, None, None));
        }
        let last = keeper.last_report().cloned();
        let mut model = keeper.finished(backend.as_mut(), &rng).await?;
        let test = match cfg.evaluate_test {
            true => Some(test_figures(backend.as_mut(), &data, &model, last, cfg).await?),
            false => None,
        };
        model.state.progress = None;
        Ok(Model::with(model, test, outcome.stopped_early))
    }
}

/// The test figures of the model a run returns: the last epoch's, unless the test
/// split was not evaluated every epoch or the model is an earlier epoch's (early
/// stopping), in which case the backend (set to that model) evaluates it now.
async fn test_figures(
    backend: &mut dyn Backend,
    data: &Dataset,
    model: &Checkpoint,
    last: Option<EpochReport>,
    cfg: &TrainConfig,
) -> Result<TestFigures> {
    if let Some(r) = last.filter(|r| r.test_loss.is_some() && cfg.early_stopping.is_none()) {
        return Ok(TestFigures {
            epoch: r.epoch,
            loss: r.test_loss.unwrap_or_default(),
            accuracy: r.test_accuracy,
            figures: r.test_figures,
        });
    }
    let t = score_split(backend, data, &cfg.head, SplitKind::Test).await?;
    Ok(TestFigures {
        epoch: model.state.epochs_trained,
        loss: t.loss,
        accuracy: t.accuracy,
        figures: t.figures,
    })
}
