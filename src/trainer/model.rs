//! A trained network as the library hands it out: predict, evaluate, save.

use std::path::Path;
use std::sync::Arc;

use super::Device;
use crate::backend::argmax;
use crate::checkpoint::Checkpoint;
use crate::choice::Choice;
use crate::data::{Dataset, SplitKind};
use crate::error::{Error, Result};
use crate::eval::EvalReport;
use crate::gpu::GpuOptions;
use crate::network::{Activation, Architecture};
use crate::report::{EpochReport, Figures};
use crate::task::Task;

/// The test loss, accuracy and task figures of the model a run returns.
#[derive(Clone, Debug, PartialEq)]
pub struct TestFigures {
    /// The epoch whose model they measure.
    pub epoch: usize,
    /// Mean test loss.
    pub loss: f64,
    /// Test accuracy in [0, 1] (None for a regression).
    pub accuracy: Option<f64>,
    /// The task's test figures (R², F1, …).
    pub figures: Figures,
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

    pub(super) fn with(
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
    pub fn test(&self) -> Option<&TestFigures> {
        self.test.as_ref()
    }

    /// The best epoch, where early stopping ended the run that trained this model.
    pub fn stopped_early(&self) -> Option<usize> {
        self.stopped_early
    }

    /// Whether the run stopped inside an epoch (an interrupt): saved, the model
    /// resumes exactly there.
    pub fn interrupted(&self) -> bool {
        self.checkpoint.state.progress.is_some()
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
        &self.checkpoint.settings.arch
    }

    /// One report per trained epoch: losses, accuracies, learning rate, time. A
    /// model that early stopping chose is its best epoch's: its history ends at that
    /// epoch (the run's later epochs are in `--save-last`'s model, or the observer's).
    pub fn history(&self) -> &[EpochReport] {
        &self.checkpoint.state.history
    }

    /// Class names where the data names them (CIFAR, string CSV labels,
    /// Fashion-MNIST, or the caller's).
    pub fn class_names(&self) -> Option<&[String]> {
        self.checkpoint.settings.class_names.as_deref()
    }

    /// Everything the checkpoint file holds.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// What the model answers for each image in `images` (concatenated, one byte
    /// per pixel, as the training data), on the CPU: class probabilities (the
    /// softmax; binary: [1 − p, p]), each label's probability (multilabel), or the
    /// predicted values in the targets' units (regress).
    pub fn probabilities(&self, images: &[u8]) -> Result<Vec<Vec<f32>>> {
        crate::eval::probabilities(&self.checkpoint, images)
    }

    /// `probabilities` of each row of `features` (concatenated, `inputs()` floats
    /// each): a model trained on float features.
    pub fn probabilities_f32(&self, features: &[f32]) -> Result<Vec<Vec<f32>>> {
        crate::eval::probabilities_f32(&self.checkpoint, features)
    }

    /// The class a classifier predicts for one image (the most likely; binary:
    /// the positive class above the threshold).
    pub fn predict(&self, image: &[u8]) -> Result<usize> {
        let pixels = self.checkpoint.settings.arch.inputs();
        if image.len() != pixels {
            return Err(Error::Usage(format!(
                "an image of {} bytes; the network takes {pixels}",
                image.len()
            )));
        }
        let arch = &self.checkpoint.settings.arch;
        if !arch.task().has_classes() {
            return Err(Error::Usage(format!(
                "a {} model predicts values, not a class: use `probabilities`",
                arch.task().name()
            )));
        }
        let p = &self.probabilities(image)?[0];
        Ok(match arch.task() {
            Task::Binary => (p[1] > arch.head.threshold) as usize,
            _ => argmax(p),
        })
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
        self.evaluate_with(data, split, device, &GpuOptions::default())
    }

    /// [`Model::evaluate`] with the GPU path's options.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn evaluate_with(
        &self,
        data: impl Into<Arc<Dataset>>,
        split: SplitKind,
        device: &Device,
        options: &GpuOptions,
    ) -> Result<EvalReport> {
        pollster::block_on(self.evaluate_async(data.into(), split, device, options))
    }

    /// `evaluate_with`, awaiting the device.
    pub async fn evaluate_async(
        &self,
        data: Arc<Dataset>,
        split: SplitKind,
        device: &Device,
        options: &GpuOptions,
    ) -> Result<EvalReport> {
        crate::eval::check_data_fits(&self.checkpoint, Path::new("the model"), &data)?;
        let setup = crate::eval::evaluation_setup(&self.checkpoint);
        let mut backend = device.open_backend(&data, setup, options).await?;
        let arch = &self.checkpoint.settings.arch;
        crate::eval::evaluate_async(backend.as_mut(), &data, split, arch).await
    }
}

impl From<Checkpoint> for Model {
    fn from(c: Checkpoint) -> Self {
        Model::with(c, None, None)
    }
}
