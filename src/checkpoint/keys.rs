//! Every metadata key of a checkpoint, named once: its name, the range of a count,
//! and what a file written before the key existed means by leaving it out. The
//! writer (`metadata::write`) and the reader ([`Metadata`]) both go through these
//! constants, and a test checks that what is written is exactly [`KEYS`].

use std::collections::HashMap;
use std::path::Path;

use super::MAX_EPOCHS;
use crate::backend::MAX_BATCH_SIZE;
use crate::choice::Choice;
use crate::error::{Error, Result};

/// One metadata key.
pub(super) struct Key {
    pub(super) name: &'static str,
    pub(super) absent: Absent,
    /// For counts: the inclusive range a value must lie in.
    pub(super) range: Option<(usize, usize)>,
}

/// What a missing key means.
pub(super) enum Absent {
    /// Every checkpoint has it: a file without it is refused.
    Required,
    /// Checkpoints written before the key existed lack it and mean this value.
    Means(&'static str),
    /// Written only where the run has the feature (class names, early stopping, an
    /// unfinished epoch, …).
    Optional,
}

const fn key(name: &'static str, absent: Absent) -> Key {
    Key {
        name,
        absent,
        range: None,
    }
}

const fn count(name: &'static str, absent: Absent, min: usize, max: usize) -> Key {
    Key {
        name,
        absent,
        range: Some((min, max)),
    }
}

use Absent::{Means, Optional, Required};

// The format and the network.
pub(super) const FORMAT: Key = key("format", Required);
pub(super) const LAYERS: Key = key("layers", Required);
pub(super) const ACTIVATION: Key = key("activation", Required);
pub(super) const DROPOUT: Key = key("dropout", Means("0"));
pub(super) const LOSS: Key = key("loss", Required);
// The output head: written before tasks existed, a file was a classifier.
pub(super) const TASK: Key = key("task", Means("classify"));
pub(super) const HUBER_DELTA: Key = key("huber_delta", Optional);
pub(super) const POS_WEIGHT: Key = key("pos_weight", Optional);
pub(super) const THRESHOLD: Key = key("threshold", Optional);
pub(super) const TARGET_SHIFT: Key = key("target_shift", Optional);
pub(super) const TARGET_SCALE: Key = key("target_scale", Optional);
pub(super) const CLASS_WEIGHT: Key = key("class_weight", Optional);
// The optimizer.
pub(super) const OPTIMIZER: Key = key("optimizer", Required);
pub(super) const LR: Key = key("lr", Required);
pub(super) const MOMENTUM: Key = key("momentum", Required);
pub(super) const BETA1: Key = key("beta1", Required);
pub(super) const BETA2: Key = key("beta2", Required);
pub(super) const EPS: Key = key("eps", Required);
pub(super) const WEIGHT_DECAY: Key = key("weight_decay", Means("0"));
// The learning-rate schedule: absent together in older files, which meant
// `LrSchedule::constant`.
pub(super) const LR_SCHEDULE: Key = key("lr_schedule", Means("constant"));
pub(super) const WARMUP: Key = count("warmup", Means("0"), 0, MAX_EPOCHS);
pub(super) const LR_STEP_EVERY: Key = count("lr_step_every", Means("1"), 1, MAX_EPOCHS);
pub(super) const LR_GAMMA: Key = key("lr_gamma", Means("1"));
pub(super) const LR_MIN: Key = key("lr_min", Means("0"));
pub(super) const LR_SPAN: Key = count("lr_span", Means("1"), 1, MAX_EPOCHS);
// Where training stands.
pub(super) const EPOCHS_TRAINED: Key = count("epochs_trained", Required, 0, MAX_EPOCHS);
pub(super) const OPTIMIZER_STEPS: Key = key("optimizer_steps", Required);
pub(super) const SEED: Key = key("seed", Required);
pub(super) const RNG_STATE: Key = key("rng_state", Required);
pub(super) const BATCH_SIZE: Key = count("batch_size", Required, 1, MAX_BATCH_SIZE);
// What an example is.
pub(super) const IMAGE_ROWS: Key = key("image_rows", Required);
pub(super) const IMAGE_COLS: Key = key("image_cols", Required);
pub(super) const IMAGE_CHANNELS: Key = key("image_channels", Means("1"));
pub(super) const INPUT_LAYOUT: Key = key("input_layout", Means("planes"));
pub(super) const INPUT_DTYPE: Key = key("input_dtype", Means("u8"));
pub(super) const NORMALIZE: Key = key("normalize", Means("unit"));
pub(super) const CLASS_NAMES: Key = key("class_names", Optional);
// Informational: which gpu-mlp wrote the file (never read).
pub(super) const VERSION: Key = key("gpu_mlp_version", Optional);
pub(super) const HISTORY: Key = key("history", Means("[]"));
// Validation and early stopping.
pub(super) const VAL_SPLIT: Key = key("val_split", Optional);
pub(super) const PATIENCE: Key = count("patience", Optional, 1, MAX_EPOCHS);
pub(super) const MONITOR: Key = key("monitor", Optional);
pub(super) const BEST_VALUE: Key = key("best_value", Optional);
pub(super) const BEST_EPOCH: Key = count("best_epoch", Optional, 1, MAX_EPOCHS);
pub(super) const EPOCHS_SINCE_BEST: Key = count("epochs_since_best", Optional, 0, MAX_EPOCHS);
// The best epoch's model inside a later checkpoint (tensors `best.*`).
pub(super) const BEST_OPTIMIZER_STEPS: Key = key("best_optimizer_steps", Optional);
pub(super) const BEST_RNG_STATE: Key = key("best_rng_state", Optional);
// Where the training data came from (absolute paths).
pub(super) const DATA_PATH: Key = key("data_path", Optional);
pub(super) const DATA_FORMAT: Key = key("data_format", Optional);
pub(super) const DATA_LABEL_COLUMN: Key = key("data_label_column", Optional);
pub(super) const DATA_WEIGHT_COLUMN: Key = key("data_weight_column", Optional);
pub(super) const DATA_TEST_DATA: Key = key("data_test_data", Optional);
pub(super) const DATA_TEST_SPLIT: Key = key("data_test_split", Optional);
pub(super) const DATA_COARSE_LABELS: Key = key("data_coarse_labels", Optional);
// A table's feature columns, a JSON list of names (a CSV header may hold anything).
pub(super) const DATA_FEATURES: Key = key("data_features", Optional);
// An epoch interrupted part-way.
pub(super) const EPOCH_STEPS: Key = count("epoch_steps", Optional, 1, usize::MAX);
pub(super) const EPOCH_LOSS_SUM: Key = key("epoch_loss_sum", Optional);
pub(super) const EPOCH_CORRECT: Key = key("epoch_correct", Optional);
pub(super) const EPOCH_EXAMPLES: Key = key("epoch_examples", Optional);

/// Every key, in the order the format's documentation lists them.
#[cfg(test)]
pub(super) const KEYS: &[&Key] = &[
    &FORMAT,
    &LAYERS,
    &ACTIVATION,
    &DROPOUT,
    &LOSS,
    &TASK,
    &HUBER_DELTA,
    &POS_WEIGHT,
    &THRESHOLD,
    &TARGET_SHIFT,
    &TARGET_SCALE,
    &CLASS_WEIGHT,
    &OPTIMIZER,
    &LR,
    &MOMENTUM,
    &BETA1,
    &BETA2,
    &EPS,
    &WEIGHT_DECAY,
    &LR_SCHEDULE,
    &WARMUP,
    &LR_STEP_EVERY,
    &LR_GAMMA,
    &LR_MIN,
    &LR_SPAN,
    &EPOCHS_TRAINED,
    &OPTIMIZER_STEPS,
    &SEED,
    &RNG_STATE,
    &BATCH_SIZE,
    &IMAGE_ROWS,
    &IMAGE_COLS,
    &IMAGE_CHANNELS,
    &INPUT_LAYOUT,
    &INPUT_DTYPE,
    &NORMALIZE,
    &VERSION,
    &HISTORY,
    &CLASS_NAMES,
    &VAL_SPLIT,
    &PATIENCE,
    &MONITOR,
    &BEST_VALUE,
    &BEST_EPOCH,
    &EPOCHS_SINCE_BEST,
    &BEST_OPTIMIZER_STEPS,
    &BEST_RNG_STATE,
    &DATA_PATH,
    &DATA_FORMAT,
    &DATA_LABEL_COLUMN,
    &DATA_WEIGHT_COLUMN,
    &DATA_TEST_DATA,
    &DATA_TEST_SPLIT,
    &DATA_COARSE_LABELS,
    &DATA_FEATURES,
    &EPOCH_STEPS,
    &EPOCH_LOSS_SUM,
    &EPOCH_CORRECT,
    &EPOCH_EXAMPLES,
];

/// A checkpoint's string metadata, read through the [`Key`]s with errors that
/// name the file and the key.
pub(super) struct Metadata<'a> {
    pub(super) path: &'a Path,
    pub(super) map: &'a HashMap<String, String>,
}

impl Metadata<'_> {
    pub(super) fn bad(&self, problem: String) -> Error {
        Error::data(self.path, problem)
    }

    /// The key's text: as written, or what its absence means; None for an absent
    /// optional key.
    pub(super) fn text(&self, key: &Key) -> Result<Option<&str>> {
        match (self.map.get(key.name), &key.absent) {
            (Some(v), _) => Ok(Some(v.as_str())),
            (None, Means(default)) => Ok(Some(default)),
            (None, Optional) => Ok(None),
            (None, Required) => Err(self.missing(key)),
        }
    }

    /// Whether the file has the key itself (not a default for it).
    pub(super) fn has(&self, key: &Key) -> bool {
        self.map.contains_key(key.name)
    }

    fn missing(&self, key: &Key) -> Error {
        self.bad(format!("metadata has no {:?}", key.name))
    }

    /// The key's text, which must be there (an optional key another one needs).
    pub(super) fn need(&self, key: &Key) -> Result<&str> {
        self.text(key)?.ok_or_else(|| self.missing(key))
    }

    pub(super) fn parse_value<T: std::str::FromStr>(&self, key: &Key, v: &str) -> Result<T> {
        v.parse()
            .map_err(|_| self.bad(format!("metadata {}={v:?} is not valid", key.name)))
    }

    /// The key's value, parsed (and, for a count, within its range).
    pub(super) fn parse<T: std::str::FromStr + TryInto<usize> + Copy>(
        &self,
        key: &Key,
    ) -> Result<T> {
        let v: T = self.parse_value(key, self.need(key)?)?;
        if let Some((min, max)) = key.range {
            let n = v.try_into().ok().filter(|n| (min..=max).contains(n));
            if n.is_none() {
                let text = self.need(key)?;
                let name = key.name;
                return Err(self.bad(format!("metadata {name}={text} is not in {min}..={max}")));
            }
        }
        Ok(v)
    }

    /// A floating-point value (no range).
    pub(super) fn float<T: std::str::FromStr>(&self, key: &Key) -> Result<T> {
        self.parse_value(key, self.need(key)?)
    }

    /// One of a [`Choice`]'s names.
    pub(super) fn choice<T: Choice>(&self, key: &Key) -> Result<T> {
        let v = self.need(key)?;
        T::from_name(v).ok_or_else(|| {
            self.bad(format!(
                "metadata {}={v:?} is not one of {:?}",
                key.name,
                T::names()
            ))
        })
    }
}
