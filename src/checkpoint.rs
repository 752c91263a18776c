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
//!   has them.
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
//! interrupt) `epoch_steps`, `epoch_loss_sum`, `epoch_correct`, `epoch_examples`.
//! Keys added after the first release are optional, so older checkpoints load.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::backend::MAX_BATCH_SIZE;
use crate::choice::Choice;
use crate::data::normalize::{InputTransform, Normalize};
use crate::data::{self, Layout};
use crate::error::{Error, Result};
use crate::files::{read_bounded, write_atomically};
use crate::metrics::{report_from_json, report_to_json};
use crate::network::Architecture;
use crate::optimizer::{Optimizer, OptimizerKind, OptimizerState};
use crate::report::{BestSoFar, EarlyStopping, EpochProgress, EpochReport, Totals};
use crate::schedule::LrSchedule;

/// The format tag written into every checkpoint's metadata.
pub const FORMAT: &str = "gpu-mlp/1";

/// The largest checkpoint file read: the largest network (2³² parameters) with
/// Adam's two moments, in f32.
pub const MAX_CHECKPOINT_BYTES: u64 = 3 << 34;

/// The most epochs a run may have trained, a sanity bound on a checkpoint's count.
pub const MAX_EPOCHS: usize = 1_000_000_000;

/// Everything needed to evaluate a network or to continue training it.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The network: layer sizes, activation, loss, dropout.
    pub arch: Architecture,
    /// The optimizer and its settings.
    pub opt: Optimizer,
    /// Parameters in `Architecture`'s internal flat layout.
    pub params: Vec<f32>,
    /// The optimizer's moments, so training continues exactly.
    pub state: OptimizerState<f32>,
    /// Complete epochs trained.
    pub epochs_trained: usize,
    /// The seed of the initial weights, shuffles and dropout masks.
    pub seed: u64,
    /// The shuffling RNG after the last trained epoch.
    pub rng_state: [u64; 4],
    /// Examples per training step.
    pub batch_size: usize,
    /// Image height the network takes.
    pub image_rows: usize,
    /// Image width the network takes (a table's feature count).
    pub image_cols: usize,
    /// Colour channels of the images (1 gray, 3 RGB).
    pub image_channels: usize,
    /// How an example's features are arranged (what `predict` turns files into).
    pub layout: Layout,
    /// The input normalization and its statistics from the training split.
    pub input: InputTransform,
    /// Names of the classes, where the data set is known (Fashion-MNIST).
    pub class_names: Option<Vec<String>>,
    /// Every epoch trained so far, so that a resumed run's metrics and plot show
    /// the whole run.
    pub history: Vec<EpochReport>,
    /// Set when the checkpoint was written inside an epoch (an interrupt): how far
    /// that epoch got. `rng_state` is then the RNG before that epoch's shuffle.
    pub progress: Option<EpochProgress>,
    /// The learning-rate schedule, continued where it stopped on resume (its `lr`
    /// is `opt.lr`).
    pub schedule: LrSchedule,
    /// The fraction held out for validation (`--val-split`), so a resumed run holds
    /// out the same examples.
    pub val_split: Option<f64>,
    /// Early stopping's settings and where it stood.
    pub early_stopping: Option<EarlyStopping>,
    /// Where early stopping stood after the last epoch.
    pub best: BestSoFar,
}

/// The history as stored: what each epoch learned, without its timing, so that two
/// identical runs write identical files.
fn history_json(history: &[EpochReport]) -> String {
    let epochs = history.iter().map(|r| {
        let mut line = report_to_json(r);
        if let Some(fields) = line.as_object_mut() {
            fields.remove("seconds");
            fields.remove("samples_per_second");
        }
        line
    });
    serde_json::Value::Array(epochs.collect()).to_string()
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

/// Splits a flat internal array into named tensors: weights transposed to [out, in].
fn to_tensors(
    arch: &Architecture,
    flat: &[f32],
    prefix: &str,
) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let mut out = Vec::new();
    for l in 0..arch.layers() {
        let (fan_in, fan_out) = arch.layer_shape(l);
        let w = &flat[arch.weight_offset(l)..arch.bias_offset(l)];
        let mut wt = vec![0.0f32; w.len()];
        for i in 0..fan_in {
            for j in 0..fan_out {
                wt[j * fan_in + i] = w[i * fan_out + j];
            }
        }
        let b = &flat[arch.bias_offset(l)..arch.bias_offset(l) + fan_out];
        out.push((
            format!("{prefix}layers.{l}.weight"),
            vec![fan_out, fan_in],
            bytemuck::cast_slice(&wt).to_vec(),
        ));
        out.push((
            format!("{prefix}layers.{l}.bias"),
            vec![fan_out],
            bytemuck::cast_slice(b).to_vec(),
        ));
    }
    out
}

impl Checkpoint {
    /// The validation and early-stopping entries of the metadata.
    fn validation_metadata(&self) -> Vec<(String, String)> {
        let mut meta = Vec::new();
        if let Some(f) = self.val_split {
            meta.push(("val_split", f.to_string()));
        }
        if let Some(s) = &self.early_stopping {
            meta.push(("patience", s.patience.to_string()));
            meta.push(("monitor", s.monitor.name().to_string()));
        }
        if let Some(v) = self.best.value {
            meta.push(("best_value", v.to_string()));
            meta.push(("best_epoch", self.best.epoch.to_string()));
            meta.push(("epochs_since_best", self.best.since.to_string()));
        }
        meta.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
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
        let arch = &self.arch;
        if self.params.len() != arch.param_count() {
            return Err(Error::output(
                path,
                format!(
                    "{} parameters for a network of {}",
                    self.params.len(),
                    arch.param_count()
                ),
            ));
        }
        self.state.check_fits(self.opt.kind, self.params.len())?;
        let mut tensors = to_tensors(arch, &self.params, "");
        if self.input.has_statistics() {
            for (name, values) in [
                ("input.shift", &self.input.shift),
                ("input.scale", &self.input.scale),
            ] {
                let bytes = bytemuck::cast_slice(values).to_vec();
                tensors.push((name.to_string(), vec![values.len()], bytes));
            }
        }
        if !self.state.m.is_empty() {
            tensors.extend(to_tensors(arch, &self.state.m, "optimizer.m."));
        }
        if !self.state.v.is_empty() {
            tensors.extend(to_tensors(arch, &self.state.v, "optimizer.v."));
        }
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .map(|view| (name.clone(), view))
                    .map_err(|e| Error::output(path, format!("tensor {name}: {e}")))
            })
            .collect::<Result<_>>()?;
        let o = &self.opt;
        let s = self.rng_state;
        let meta: HashMap<String, String> = [
            ("format", FORMAT.to_string()),
            (
                "layers",
                arch.sizes
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("activation", arch.activation.name().into()),
            ("dropout", arch.dropout.to_string()),
            ("loss", arch.loss.name().into()),
            ("optimizer", o.kind.name().into()),
            ("lr", o.lr.to_string()),
            ("momentum", o.momentum.to_string()),
            ("beta1", o.beta1.to_string()),
            ("beta2", o.beta2.to_string()),
            ("eps", o.eps.to_string()),
            ("weight_decay", o.weight_decay.to_string()),
            ("lr_schedule", self.schedule.kind.name().to_string()),
            ("warmup", self.schedule.warmup.to_string()),
            ("lr_step_every", self.schedule.step_every.to_string()),
            ("lr_gamma", self.schedule.gamma.to_string()),
            ("lr_min", self.schedule.min_lr.to_string()),
            ("lr_span", self.schedule.span.to_string()),
            ("epochs_trained", self.epochs_trained.to_string()),
            ("optimizer_steps", self.state.t.to_string()),
            ("seed", self.seed.to_string()),
            (
                "rng_state",
                format!("{:016x},{:016x},{:016x},{:016x}", s[0], s[1], s[2], s[3]),
            ),
            ("batch_size", self.batch_size.to_string()),
            ("image_rows", self.image_rows.to_string()),
            ("image_cols", self.image_cols.to_string()),
            ("image_channels", self.image_channels.to_string()),
            ("input_layout", self.layout.name().to_string()),
            ("input_dtype", self.input.dtype.name().to_string()),
            ("normalize", self.input.kind.name().to_string()),
            ("gpu_mlp_version", env!("CARGO_PKG_VERSION").into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(
            self.class_names
                .as_ref()
                .map(|n| ("class_names".to_string(), n.join("\n"))),
        )
        .chain(self.progress.iter().flat_map(|p| {
            [
                ("epoch_steps", p.steps.to_string()),
                ("epoch_loss_sum", p.totals.loss_sum.to_string()),
                ("epoch_correct", p.totals.correct.to_string()),
                ("epoch_examples", p.totals.count.to_string()),
            ]
            .map(|(k, v)| (k.to_string(), v))
        }))
        .chain([("history".to_string(), history_json(&self.history))])
        .chain(self.validation_metadata())
        .collect();
        safetensors::serialize(views, Some(meta))
            .map_err(|e| e.to_string())
            .and_then(with_sorted_header)
            .map_err(|e| Error::output(path, format!("cannot encode the checkpoint: {e}")))
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
        let meta = Metadata { path, map: &map };
        let (arch, opt) = meta.network()?;
        let params = read_flat(path, &st, &arch, "")?;
        let mut state = OptimizerState::new(opt.kind, params.len());
        if !state.m.is_empty() {
            state.m = read_flat(path, &st, &arch, "optimizer.m.")?;
        }
        if !state.v.is_empty() {
            state.v = read_flat(path, &st, &arch, "optimizer.v.")?;
        }
        state.t = meta.parse("optimizer_steps")?;
        check_state(path, &params, &state)?;
        let input = meta.input_transform(&st, &arch)?;
        let expected =
            2 * arch.layers() * (1 + opt.kind.state_arrays()) + 2 * input.has_statistics() as usize;
        if st.len() != expected {
            let names = st.names();
            return Err(bad(format!(
                "{} tensors, expected {expected}: {names:?}",
                st.len()
            )));
        }
        let (image_channels, image_rows, image_cols) = meta.image_size(&arch)?;
        Ok(Checkpoint {
            class_names: meta.class_names(&arch)?,
            opt,
            params,
            state,
            epochs_trained: meta.bounded("epochs_trained", 0, MAX_EPOCHS)?,
            seed: meta.parse("seed")?,
            rng_state: meta.rng_state()?,
            batch_size: meta.bounded("batch_size", 1, MAX_BATCH_SIZE)?,
            history: meta.history()?,
            progress: meta.progress()?,
            schedule: meta.schedule(opt.lr)?,
            val_split: meta.val_split()?,
            early_stopping: meta.early_stopping()?,
            best: meta.best()?,
            image_rows,
            image_cols,
            image_channels,
            layout: meta.layout()?,
            input,
            arch,
        })
    }
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

/// A checkpoint's string metadata, read with errors that name the file and key.
struct Metadata<'a> {
    path: &'a Path,
    map: &'a HashMap<String, String>,
}

impl Metadata<'_> {
    fn bad(&self, problem: String) -> Error {
        Error::data(self.path, problem)
    }

    fn get(&self, key: &str) -> Result<&str> {
        self.map
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| self.bad(format!("metadata has no {key:?}")))
    }

    fn parse_value<T: std::str::FromStr>(&self, key: &str, v: &str) -> Result<T> {
        v.parse()
            .map_err(|_| self.bad(format!("metadata {key}={v:?} is not valid")))
    }

    fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<T> {
        self.parse_value(key, self.get(key)?)
    }

    /// An integer within `min..=max`.
    fn bounded(&self, key: &str, min: usize, max: usize) -> Result<usize> {
        let v: usize = self.parse(key)?;
        if !(min..=max).contains(&v) {
            return Err(self.bad(format!("metadata {key}={v} is not in {min}..={max}")));
        }
        Ok(v)
    }

    fn choice<T: Choice>(&self, key: &str) -> Result<T> {
        let v = self.get(key)?;
        T::from_name(v).ok_or_else(|| {
            self.bad(format!(
                "metadata {key}={v:?} is not one of {:?}",
                T::names()
            ))
        })
    }

    /// The format, the network and the optimizer settings.
    fn network(&self) -> Result<(Architecture, Optimizer)> {
        if self.get("format")? != FORMAT {
            let format = self.get("format")?;
            return Err(self.bad(format!("format {format:?} is not {FORMAT}")));
        }
        let sizes: Vec<usize> = self
            .get("layers")?
            .split(',')
            .map(|s| self.parse_value("layers", s))
            .collect::<Result<_>>()?;
        let [inputs, hidden @ .., classes] = sizes.as_slice() else {
            return Err(
                self.bad("metadata layers needs at least an input and an output size".into())
            );
        };
        let arch = Architecture::new(
            *inputs,
            hidden,
            *classes,
            self.choice("activation")?,
            self.choice("loss")?,
        )
        .map_err(|e| self.bad(format!("metadata layers: {e}")))?;
        // Absent from checkpoints written before dropout existed: none.
        let dropout = match self.map.contains_key("dropout") {
            true => self.parse("dropout")?,
            false => 0.0,
        };
        let arch = arch
            .with_dropout(dropout)
            .map_err(|e| self.bad(format!("metadata: {e}")))?;
        let opt = Optimizer {
            kind: self.choice::<OptimizerKind>("optimizer")?,
            lr: self.parse("lr")?,
            momentum: self.parse("momentum")?,
            beta1: self.parse("beta1")?,
            beta2: self.parse("beta2")?,
            eps: self.parse("eps")?,
            // Absent from checkpoints written before weight decay existed: none.
            weight_decay: match self.map.contains_key("weight_decay") {
                true => self.parse("weight_decay")?,
                false => 0.0,
            },
        };
        opt.validate()
            .map_err(|e| self.bad(format!("metadata: {e}")))?;
        Ok((arch, opt))
    }

    fn rng_state(&self) -> Result<[u64; 4]> {
        let words: Vec<u64> = self
            .get("rng_state")?
            .split(',')
            .map(|w| {
                u64::from_str_radix(w, 16)
                    .map_err(|_| self.bad(format!("metadata rng_state word {w:?} is not hex")))
            })
            .collect::<Result<_>>()?;
        let state: [u64; 4] = words
            .try_into()
            .map_err(|_| self.bad("metadata rng_state needs four words".into()))?;
        // xoshiro's all-zero state never leaves zero: every shuffle would be the same.
        if state == [0; 4] {
            return Err(self.bad("metadata rng_state is all zeros, which no run produces".into()));
        }
        Ok(state)
    }

    /// (channels, rows, cols); `image_channels` is absent in older (gray) checkpoints.
    fn image_size(&self, arch: &Architecture) -> Result<(usize, usize, usize)> {
        let rows: usize = self.parse("image_rows")?;
        let cols: usize = self.parse("image_cols")?;
        let channels: usize = match self.map.contains_key("image_channels") {
            true => self.parse("image_channels")?,
            false => 1,
        };
        let size = rows.checked_mul(cols).and_then(|p| p.checked_mul(channels));
        if size != Some(arch.inputs()) {
            return Err(self.bad(format!(
                "input size {channels}×{rows}×{cols} does not match {} inputs",
                arch.inputs()
            )));
        }
        Ok((channels, rows, cols))
    }

    /// The input layout (absent in older checkpoints: gray images).
    fn layout(&self) -> Result<Layout> {
        match self.map.contains_key("input_layout") {
            true => self.choice("input_layout"),
            false => Ok(Layout::Planes),
        }
    }

    /// The input normalization: older checkpoints (u8 images ÷ 255) have none
    /// written; statistics, where the kind needs them, are the tensors
    /// `input.shift` and `input.scale`.
    fn input_transform(&self, st: &SafeTensors, arch: &Architecture) -> Result<InputTransform> {
        let width = arch.inputs();
        if !self.map.contains_key("normalize") {
            return Ok(InputTransform::unit_bytes(width));
        }
        let kind: Normalize = self.choice("normalize")?;
        let dtype: data::Dtype = self.choice("input_dtype")?;
        let mut input = match dtype {
            data::Dtype::U8 if kind == Normalize::Unit => InputTransform::unit_bytes(width),
            _ => InputTransform {
                kind,
                dtype,
                shift: vec![0.0; width],
                scale: vec![1.0; width],
            },
        };
        if input.has_statistics() {
            input.shift = read_vector(self.path, st, "input.shift", width)?;
            input.scale = read_vector(self.path, st, "input.scale", width)?;
        }
        input.check(width).map_err(|e| self.bad(format!("{e}")))?;
        Ok(input)
    }

    /// The learning-rate schedule (absent in older checkpoints: constant).
    fn schedule(&self, lr: f32) -> Result<LrSchedule> {
        if !self.map.contains_key("lr_schedule") {
            return Ok(LrSchedule::constant(lr));
        }
        let schedule = LrSchedule {
            kind: self.choice("lr_schedule")?,
            lr,
            warmup: self.bounded("warmup", 0, MAX_EPOCHS)?,
            step_every: self.bounded("lr_step_every", 1, MAX_EPOCHS)?,
            gamma: self.parse("lr_gamma")?,
            min_lr: self.parse("lr_min")?,
            span: self.bounded("lr_span", 1, MAX_EPOCHS)?,
        };
        schedule
            .validate()
            .map_err(|e| self.bad(format!("metadata: {e}")))?;
        Ok(schedule)
    }

    fn val_split(&self) -> Result<Option<f64>> {
        if !self.map.contains_key("val_split") {
            return Ok(None);
        }
        let f: f64 = self.parse("val_split")?;
        if !(f > 0.0 && f < 1.0) {
            return Err(self.bad(format!("metadata val_split={f} is not in (0, 1)")));
        }
        Ok(Some(f))
    }

    fn early_stopping(&self) -> Result<Option<EarlyStopping>> {
        if !self.map.contains_key("patience") {
            return Ok(None);
        }
        Ok(Some(EarlyStopping {
            patience: self.bounded("patience", 1, MAX_EPOCHS)?,
            monitor: self.choice("monitor")?,
        }))
    }

    fn best(&self) -> Result<BestSoFar> {
        if !self.map.contains_key("best_value") {
            return Ok(BestSoFar::default());
        }
        let value: f64 = self.parse("best_value")?;
        if !value.is_finite() {
            return Err(self.bad(format!("metadata best_value={value} is not finite")));
        }
        Ok(BestSoFar {
            value: Some(value),
            epoch: self.bounded("best_epoch", 1, MAX_EPOCHS)?,
            since: self.bounded("epochs_since_best", 0, MAX_EPOCHS)?,
        })
    }

    /// The per-epoch history (absent in older checkpoints: empty).
    fn history(&self) -> Result<Vec<EpochReport>> {
        let Some(text) = self.map.get("history") else {
            return Ok(Vec::new());
        };
        let bad = || self.bad("metadata history is not a list of finite epoch figures".into());
        let values: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|_| bad())?;
        values
            .iter()
            .map(|v| report_from_json(v).ok_or_else(bad))
            .collect()
    }

    /// An unfinished epoch's progress, where the checkpoint was written inside one.
    fn progress(&self) -> Result<Option<EpochProgress>> {
        if !self.map.contains_key("epoch_steps") {
            return Ok(None);
        }
        let steps = self.bounded("epoch_steps", 1, usize::MAX)?;
        let loss_sum: f64 = self.parse("epoch_loss_sum")?;
        let correct: u64 = self.parse("epoch_correct")?;
        let count: u64 = self.parse("epoch_examples")?;
        if !(loss_sum.is_finite() && loss_sum >= 0.0) || correct > count {
            return Err(self.bad(format!(
                "metadata epoch_loss_sum={loss_sum}, epoch_correct={correct}, epoch_examples={count} do not describe a partial epoch"
            )));
        }
        let totals = Totals {
            loss_sum,
            correct,
            count,
        };
        Ok(Some(EpochProgress { steps, totals }))
    }

    fn class_names(&self, arch: &Architecture) -> Result<Option<Vec<String>>> {
        let Some(names) = self.map.get("class_names") else {
            return Ok(None);
        };
        let names: Vec<String> = names.split('\n').map(str::to_string).collect();
        if names.len() != arch.classes() {
            return Err(self.bad(format!(
                "{} class names for {} classes",
                names.len(),
                arch.classes()
            )));
        }
        Ok(Some(names))
    }
}

/// The tensors `{prefix}layers.{l}.weight|bias`, checked against the network's
/// shapes, into the internal flat layout (weights transposed back to in×out). Every
/// shape is checked before the flat array is allocated, so its size is bounded by
/// the tensors actually in the file, not by what the metadata claims.
/// A one-dimensional F32 tensor of `len` values.
fn read_vector(path: &Path, st: &SafeTensors, name: &str, len: usize) -> Result<Vec<f32>> {
    let bad = |problem: String| Error::data(path, problem);
    let t = st
        .tensor(name)
        .map_err(|_| bad(format!("tensor {name} is missing")))?;
    if t.dtype() != Dtype::F32 || t.shape() != [len] {
        return Err(bad(format!(
            "tensor {name} is {:?} {:?}, expected F32 [{len}]",
            t.dtype(),
            t.shape()
        )));
    }
    Ok(bytemuck::pod_collect_to_vec(t.data()))
}

fn read_flat(path: &Path, st: &SafeTensors, arch: &Architecture, prefix: &str) -> Result<Vec<f32>> {
    read_flat_named(path, st, arch, |l, suffix| {
        format!("{prefix}layers.{l}.{suffix}")
    })
}

/// The parameters of `arch` from tensors in PyTorch's layout (`weight` [out, in],
/// `bias` [out]) named by `name(layer, "weight" | "bias")`, in the internal flat layout.
pub(crate) fn read_flat_named(
    path: &Path,
    st: &SafeTensors,
    arch: &Architecture,
    name: impl Fn(usize, &str) -> String,
) -> Result<Vec<f32>> {
    let bad = |problem: String| Error::data(path, problem);
    let mut views = Vec::with_capacity(2 * arch.layers());
    for layer in arch.dense_layers() {
        let (fan_in, fan_out) = (layer.inputs, layer.outputs);
        for (suffix, shape) in [("weight", vec![fan_out, fan_in]), ("bias", vec![fan_out])] {
            let name = name(layer.index, suffix);
            let t = st
                .tensor(&name)
                .map_err(|_| bad(format!("tensor {name} is missing")))?;
            if t.dtype() != Dtype::F32 {
                return Err(bad(format!(
                    "tensor {name} is {:?}, expected F32",
                    t.dtype()
                )));
            }
            if t.shape() != shape.as_slice() {
                return Err(bad(format!(
                    "tensor {name} has shape {:?}, expected {shape:?}",
                    t.shape()
                )));
            }
            views.push((layer, suffix, t));
        }
    }
    let mut flat = vec![0.0f32; arch.param_count()];
    for (layer, suffix, t) in views {
        let values: Vec<f32> = bytemuck::pod_collect_to_vec(t.data());
        if suffix == "bias" {
            flat[layer.bias_range()].copy_from_slice(&values);
            continue;
        }
        let (fan_in, fan_out) = (layer.inputs, layer.outputs);
        let w = &mut flat[layer.weight_range()];
        for i in 0..fan_in {
            for j in 0..fan_out {
                w[i * fan_out + j] = values[j * fan_in + i];
            }
        }
    }
    Ok(flat)
}
