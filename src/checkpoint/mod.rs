//! Checkpoints in the safetensors format: the trained network under PyTorch's
//! names and layout, the optimizer state and the RNG position, so that training
//! can continue exactly where it stopped.
//!
//! Tensors (all F32, little-endian):
//! * `layers.{l}.weight` — shape [out, in], as `torch.nn.Linear` stores it (our
//!   internal W is in×out; the file holds its transpose);
//! * `layers.{l}.bias` — shape `[out]`;
//! * `input.shift`, `input.scale` — shape `[inputs]`, where the normalization has
//!   statistics: the network sees (x − shift)·scale;
//! * `optimizer.m.layers.{l}.weight|bias`, `optimizer.v.…` — momentum's velocity
//!   (m) and Adam's moments (m, v), same names and shapes, only where the optimizer
//!   has them;
//! * `best.layers.…`, `best.optimizer.m.…`, `best.optimizer.v.…` — in the
//!   checkpoint of an interrupted early-stopping run whose best epoch came
//!   earlier: that epoch's network and optimizer state, which the resumed run ends
//!   with unless a later epoch beats it.
//!
//! String metadata: `format` (`gpu-mlp/1`), `layers` (`784,128,10`), `activation`,
//! `dropout`, `loss`, `optimizer`, `lr`, `momentum`, `beta1`, `beta2`, `eps`,
//! `weight_decay`, `lr_schedule`, `warmup`, `lr_step_every`, `lr_gamma`, `lr_min`,
//! `lr_span`, `epochs_trained`, `optimizer_steps`, `seed`, `rng_state` (four hex
//! words), `batch_size`, `image_rows`, `image_cols`, `image_channels`,
//! `input_layout` (`planes`, `interleaved` or `table`), `input_dtype` (`u8` or
//! `f32`), `normalize` (`none`, `unit` or `standard`), `gpu_mlp_version`, `history`
//! (a JSON list of the epochs' figures); where they apply, `class_names` (one per
//! line), `val_split`, `patience` and `monitor`, `best_value`, `best_epoch` and
//! `epochs_since_best`, and for a checkpoint written inside an epoch (an
//! interrupt) `epoch_steps`, `epoch_loss_sum`, `epoch_correct`, `epoch_examples`,
//! with a best epoch's model inside `best_optimizer_steps` and `best_rng_state`;
//! for data read from files, `data_path`, `data_format`, and where they were given
//! `data_label_column`, `data_test_data`, `data_test_split`, `data_coarse_labels`.
//! Keys added after the first release are optional, so older checkpoints load;
//! `keys.rs` names each key once, with its range and what its absence means.

mod keys;
mod metadata;
mod tensors;

use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::data::normalize::InputTransform;
use crate::data::{DataSource, Layout};
use crate::error::{Error, Result};
use crate::files::{read_bounded, write_atomically};
use crate::network::Architecture;
use crate::optimizer::{Optimizer, OptimizerState};
use crate::report::{BestSoFar, EarlyStopping, EpochProgress, EpochReport};
use crate::schedule::LrSchedule;
pub(crate) use tensors::read_flat_named;
use tensors::{to_tensors, NamedTensor};

/// The format tag written into every checkpoint's metadata.
pub const FORMAT: &str = "gpu-mlp/1";

/// The largest checkpoint file read: the largest network (2³² parameters) with
/// Adam's two moments, in f32.
pub const MAX_CHECKPOINT_BYTES: u64 = 3 << 34;

/// The most epochs a run may have trained, a sanity bound on a checkpoint's count.
pub const MAX_EPOCHS: usize = 1_000_000_000;

/// Everything needed to evaluate a network or to continue training it: what the
/// run fixed when it started, and where training stood.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The same in every checkpoint of a run.
    pub settings: RunSettings,
    /// What training has changed.
    pub state: TrainingState,
}

/// What a run fixes when it starts: the network, how it learns, what an example is.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSettings {
    /// The network: layer sizes, activation, loss, dropout.
    pub arch: Architecture,
    /// The optimizer and its settings (`lr`: the schedule's base rate).
    pub opt: Optimizer,
    /// The learning-rate schedule, continued where it stopped on resume.
    pub schedule: LrSchedule,
    /// Examples per training step.
    pub batch_size: usize,
    /// The seed of the initial weights, shuffles and dropout masks.
    pub seed: u64,
    /// Colour channels of an example (1 gray, 3 RGB; 1 for a table).
    pub channels: usize,
    /// Rows of an example (an image's height; 1 for a table).
    pub rows: usize,
    /// Columns of an example (an image's width; a table's feature count).
    pub cols: usize,
    /// How an example's features are arranged (what `predict` turns files into).
    pub layout: Layout,
    /// The input normalization and its statistics from the training split.
    pub input: InputTransform,
    /// Names of the classes (labels, target columns), where the data names them.
    pub class_names: Option<Vec<String>>,
    /// The class weights training used (`--class-weight`), so a resumed run
    /// weighs the same.
    pub class_weight: Option<crate::task::ClassWeight>,
    /// The fraction held out for validation (`--val-split`), so a resumed run holds
    /// out the same examples.
    pub val_split: Option<f64>,
    /// Early stopping's settings.
    pub early_stopping: Option<EarlyStopping>,
    /// Where and how the training data was read, where it came from files: what
    /// `eval`, `predict` and `--resume` read when given no `--data`.
    pub source: Option<DataSource>,
}

/// Where training stands: what changes with every step and epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingState {
    /// Parameters in `Architecture`'s flat layout.
    pub params: Vec<f32>,
    /// The optimizer's moments and step count, so training continues exactly.
    pub optimizer: OptimizerState<f32>,
    /// Complete epochs trained.
    pub epochs_trained: usize,
    /// The shuffling RNG after the last trained epoch.
    pub rng_state: [u64; 4],
    /// Every epoch trained so far, so that a resumed run's metrics and plot show
    /// the whole run.
    pub history: Vec<EpochReport>,
    /// Set when the checkpoint was written inside an epoch (an interrupt): how far
    /// that epoch got. `rng_state` is then the RNG before that epoch's shuffle.
    pub progress: Option<EpochProgress>,
    /// Where early stopping stood after the last epoch.
    pub best: BestSoFar,
    /// Early stopping's best epoch's model, in a checkpoint of a later point of the
    /// run (an interrupt, `--save-last`): a resumed run that finds no better epoch
    /// then still returns the best one, not its own last.
    pub best_model: Option<BestModel>,
}

/// The state of the best epoch inside a later checkpoint: the rest (its epoch
/// count, history and figures) follows from `TrainingState::best` and the history.
#[derive(Clone, Debug, PartialEq)]
pub struct BestModel {
    /// The best epoch's parameters.
    pub params: Vec<f32>,
    /// The optimizer after the best epoch.
    pub optimizer: OptimizerState<f32>,
    /// The shuffling RNG after the best epoch.
    pub rng_state: [u64; 4],
}

impl RunSettings {
    /// How the network takes an example's features: layout and channels.
    pub fn arrangement(&self) -> crate::data::Arrangement {
        crate::data::Arrangement {
            layout: self.layout,
            channels: self.channels,
        }
    }
}

impl Checkpoint {
    /// This checkpoint carrying `best` (the same run's best epoch so far) as its
    /// [`BestModel`], where `best` is an earlier point of the run.
    pub fn with_best(mut self, best: Option<&Checkpoint>) -> Self {
        let earlier = |b: &&Checkpoint| {
            b.state.epochs_trained < self.state.epochs_trained || self.state.progress.is_some()
        };
        self.state.best_model = best.filter(earlier).map(|b| BestModel {
            params: b.state.params.clone(),
            optimizer: b.state.optimizer.clone(),
            rng_state: b.state.rng_state,
        });
        self
    }

    /// The best epoch's model this checkpoint carries, as the checkpoint written at
    /// that epoch was: its parameters, optimizer and RNG, the history up to it.
    pub fn best_checkpoint(&self) -> Option<Checkpoint> {
        let b = self.state.best_model.as_ref()?;
        let epoch = self.state.best.epoch;
        let history: Vec<EpochReport> = self
            .state
            .history
            .iter()
            .filter(|r| r.epoch <= epoch)
            .cloned()
            .collect();
        let state = TrainingState {
            params: b.params.clone(),
            optimizer: b.optimizer.clone(),
            epochs_trained: epoch,
            rng_state: b.rng_state,
            // The best so far is that epoch's, as it stood then.
            best: BestSoFar {
                since: 0,
                ..self.state.best
            },
            history,
            progress: None,
            best_model: None,
        };
        Some(Checkpoint {
            settings: self.settings.clone(),
            state,
        })
    }

    /// Writes the checkpoint atomically: a kill at any moment leaves either the
    /// previous file or this one, never a torn one.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomically(path, &self.encode(path)?)
    }

    /// The checkpoint as the bytes of a safetensors file (what `save` writes; a
    /// page offers them as a download). `name` stands for the file in messages.
    pub fn to_bytes(&self, name: &str) -> Result<Vec<u8>> {
        self.encode(Path::new(name))
    }

    fn encode(&self, path: &Path) -> Result<Vec<u8>> {
        // Never write a file that could not be read back.
        if let Some(names) = &self.settings.class_names {
            crate::data::check_class_names(names).map_err(|p| Error::output(path, p))?;
        }
        let tensors = self.tensors(path)?;
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .map(|view| (name.clone(), view))
                    .map_err(|e| Error::output(path, format!("tensor {name}: {e}")))
            })
            .collect::<Result<_>>()?;
        safetensors::serialize(views, Some(metadata::write(self)))
            .map_err(|e| e.to_string())
            .and_then(with_sorted_header)
            .map_err(|e| Error::output(path, format!("cannot encode the checkpoint: {e}")))
    }

    /// The tensors to write: parameters, input statistics, optimizer arrays, and
    /// the best epoch's model where the checkpoint carries one.
    fn tensors(&self, path: &Path) -> Result<Vec<NamedTensor>> {
        let (state, input) = (&self.state, &self.settings.input);
        let mut tensors = self.model_tensors(path, &state.params, &state.optimizer, "")?;
        if input.has_statistics() {
            for (name, values) in [("input.shift", &input.shift), ("input.scale", &input.scale)] {
                let bytes = bytemuck::cast_slice(values).to_vec();
                tensors.push((name.to_string(), vec![values.len()], bytes));
            }
        }
        if let Some(best) = &state.best_model {
            tensors.extend(self.model_tensors(path, &best.params, &best.optimizer, "best.")?);
        }
        Ok(tensors)
    }

    /// `params` and the optimizer arrays it has, under names starting with
    /// `prefix` (`""`: the model; `"best."`: the best epoch's), checked to fit the
    /// network and the optimizer.
    fn model_tensors(
        &self,
        path: &Path,
        params: &[f32],
        optimizer: &OptimizerState<f32>,
        prefix: &str,
    ) -> Result<Vec<NamedTensor>> {
        let arch = &self.settings.arch;
        if params.len() != arch.param_count() {
            let under = match prefix {
                "" => String::new(),
                p => format!(" (tensors {p}*)"),
            };
            return Err(Error::output(
                path,
                format!(
                    "{} parameters{under} for a network of {}",
                    params.len(),
                    arch.param_count()
                ),
            ));
        }
        optimizer.check_fits(self.settings.opt.kind, params.len())?;
        let mut tensors = to_tensors(arch, params, prefix);
        for (array, moment) in [(&optimizer.m, "m"), (&optimizer.v, "v")] {
            if !array.is_empty() {
                tensors.extend(to_tensors(
                    arch,
                    array,
                    &format!("{prefix}optimizer.{moment}."),
                ));
            }
        }
        Ok(tensors)
    }

    /// Reads and validates a checkpoint: format, metadata, tensor names, dtypes and
    /// shapes. Any problem is an error naming the file, never a panic.
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_bytes(&read_bounded(path, MAX_CHECKPOINT_BYTES)?, path)
    }

    /// `load` of a file's bytes already in memory (a page's upload); `path` names
    /// it in messages.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |problem: String| Error::data(path, problem);
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let map = header.metadata().clone().ok_or_else(|| {
            bad("no gpu-mlp metadata (was it written by gpu-mlp train --save?)".into())
        })?;
        let meta = keys::Metadata { path, map: &map };
        // The tensors first: their shapes are the network's, checked before any
        // other metadata is believed.
        let (arch, opt) = metadata::read_network(&meta)?;
        let state = metadata::read_state(&meta, &st, &arch, &opt)?;
        let settings = metadata::read_settings(&meta, &st, (arch, opt))?;
        let (arch, opt) = (&settings.arch, &settings.opt);
        let model_tensors = 2 * arch.layers() * (1 + opt.kind.state_arrays());
        let expected = model_tensors * (1 + state.best_model.is_some() as usize)
            + 2 * settings.input.has_statistics() as usize;
        if st.len() != expected {
            let names = st.names();
            return Err(bad(format!(
                "{} tensors, expected {expected}: {names:?}",
                st.len()
            )));
        }
        Ok(Checkpoint { settings, state })
    }
}

/// `bytes` (a safetensors file) with its header's keys in sorted order: the
/// encoder writes metadata in hash-map order, which differs from run to run.
fn with_sorted_header(bytes: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
    let n = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()) as usize)
        .filter(|&n| 8 + n <= bytes.len())
        .ok_or("the encoder wrote no header")?;
    // serde_json's maps are ordered by key.
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[8..8 + n]).map_err(|e| e.to_string())?;
    let mut text = serde_json::to_string(&header).map_err(|e| e.to_string())?;
    // The data that follows must stay 8-byte aligned: pad with spaces, as the format allows.
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    Ok(out)
}

/// Parameters and optimizer state must be finite, and Adam's second moment (a mean
/// of squares) cannot be negative.
pub(crate) fn check_state(path: &Path, params: &[f32], state: &OptimizerState<f32>) -> Result<()> {
    let arrays = [
        ("the parameters", params),
        ("the optimizer's first state (optimizer.m)", &state.m),
        ("the optimizer's second moment (optimizer.v)", &state.v),
    ];
    for (what, values) in arrays {
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::data(path, format!("{what} contain NaN or infinity")));
        }
    }
    if state.v.iter().any(|&v| v < 0.0) {
        return Err(Error::data(
            path,
            "the optimizer's second moment (optimizer.v) has negative values",
        ));
    }
    Ok(())
}
