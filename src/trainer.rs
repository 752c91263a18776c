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
use crate::cpu::CpuBackend;
use crate::data::normalize::{InputTransform, Normalize};
use crate::data::{Dataset, SplitKind};
use crate::error::{Error, Result};
use crate::eval::EvalReport;
use crate::gpu::context::{software_only, BackendChoice, GpuContext};
use crate::gpu::GpuBackend;
use crate::model::{Activation, Architecture, Loss};
use crate::optimizer::{Optimizer, OptimizerKind};
use crate::rng::Rng;
use crate::schedule::LrSchedule;
use crate::train::{
    self, Backend, EpochReport, Observer, Silent, TrainConfig, TrainSetup, DEFAULT_BATCH_SIZE,
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
    pub fn backend(&self, data: &Arc<Dataset>, setup: TrainSetup) -> Result<Box<dyn Backend>> {
        Ok(match self.resolve() {
            Device::Gpu(choice, name) => {
                let ctx = GpuContext::new(choice, name.as_deref())?;
                Box::new(GpuBackend::new(ctx, Arc::clone(data), setup)?)
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

    /// Trains on `data`'s training split, evaluating its test split after every
    /// epoch, and returns the trained model.
    pub fn fit(&self, data: impl Into<Arc<Dataset>>) -> Result<Model> {
        self.fit_with(data, &mut Silent)
    }

    /// [`Trainer::fit`], telling `observer` about every batch and epoch; an observer
    /// that returns false from `batch_done` stops the run, and the model returned
    /// records how far it got (saved, it resumes there with `gpu-mlp train --resume`).
    pub fn fit_with(
        &self,
        data: impl Into<Arc<Dataset>>,
        observer: &mut dyn Observer,
    ) -> Result<Model> {
        let data: Arc<Dataset> = data.into();
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
        let mut backend = self.device.backend(&data, setup.clone())?;
        let cfg = TrainConfig {
            batch_size: self.batch_size,
            epochs: self.epochs,
            start_epoch: 0,
            resume_within: None,
            schedule,
            validation: false,
            test_every_epoch: false,
            early_stopping: None,
            best: Default::default(),
        };
        let outcome = train::train(backend.as_mut(), data.train.len(), &cfg, &mut rng, observer)?;
        let stop = outcome.interrupted.as_ref();
        Ok(Model(Checkpoint {
            arch: setup.arch,
            opt,
            params: backend.parameters()?,
            state: backend.optimizer_state()?,
            epochs_trained: stop.map_or(outcome.reports.len(), |s| s.epochs_done),
            seed: self.seed,
            rng_state: stop.map_or(rng.state(), |s| s.rng_state),
            batch_size: self.batch_size,
            image_rows: data.rows,
            image_cols: data.cols,
            image_channels: data.channels,
            layout: data.layout,
            input: setup.input,
            class_names: data.class_names.clone(),
            history: outcome.reports,
            progress: stop.map(|s| s.progress),
            schedule,
            val_split: None,
            early_stopping: None,
            best: Default::default(),
        }))
    }
}

/// A trained network: its architecture, parameters and training history, as a
/// checkpoint file holds them (the same file `gpu-mlp train --save` writes).
#[derive(Clone, Debug, PartialEq)]
pub struct Model(Checkpoint);

impl Model {
    /// Reads a checkpoint written by [`Model::save`] or `gpu-mlp train --save`.
    pub fn load(path: &Path) -> Result<Model> {
        Checkpoint::load(path).map(Model)
    }

    /// Reads a PyTorch state dict of `nn.Linear` layers saved with safetensors (no
    /// gpu-mlp metadata): sizes from the tensor shapes, `activation` between layers.
    pub fn from_state_dict(path: &Path, activation: Activation) -> Result<Model> {
        crate::state_dict::load_state_dict(path, activation).map(Model)
    }

    /// Writes the model (with its optimizer state, so training can resume) as
    /// safetensors, atomically: a failed write leaves any earlier file intact.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.0.save(path)
    }

    /// The network's layer sizes, activation and loss.
    pub fn architecture(&self) -> &Architecture {
        &self.0.arch
    }

    /// One report per trained epoch: losses, accuracies, learning rate, time.
    pub fn history(&self) -> &[EpochReport] {
        &self.0.history
    }

    /// Class names where the data names them (CIFAR, string CSV labels,
    /// Fashion-MNIST, or the caller's).
    pub fn class_names(&self) -> Option<&[String]> {
        self.0.class_names.as_deref()
    }

    /// Everything the checkpoint file holds.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.0
    }

    /// Class probabilities (softmax of the logits) of each image in `images`
    /// (concatenated, one byte per pixel, as the training data), on the CPU.
    pub fn probabilities(&self, images: &[u8]) -> Result<Vec<Vec<f32>>> {
        crate::eval::probabilities(&self.0, images)
    }

    /// Class probabilities of each row of `features` (concatenated, `inputs()`
    /// floats each): a model trained on float features.
    pub fn probabilities_f32(&self, features: &[f32]) -> Result<Vec<Vec<f32>>> {
        crate::eval::probabilities_f32(&self.0, features)
    }

    /// The most likely class of one image.
    pub fn predict(&self, image: &[u8]) -> Result<usize> {
        let pixels = self.0.arch.inputs();
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
    pub fn evaluate(
        &self,
        data: impl Into<Arc<Dataset>>,
        split: SplitKind,
        device: &Device,
    ) -> Result<EvalReport> {
        let data: Arc<Dataset> = data.into();
        crate::eval::check_data_fits(&self.0, Path::new("the model"), &data)?;
        let setup = crate::eval::evaluation_setup(&self.0);
        let mut backend = device.backend(&data, setup)?;
        crate::eval::evaluate(
            backend.as_mut(),
            split,
            &data.split(split).labels,
            data.classes,
        )
    }
}

impl From<Checkpoint> for Model {
    fn from(c: Checkpoint) -> Self {
        Model(c)
    }
}
