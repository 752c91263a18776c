//! A checkpoint's string metadata both ways: [`write`] turns the settings and the
//! state into key/value pairs, [`read_settings`] and [`read_state`] turn them back,
//! each value checked (format, ranges, choices, consistency with the network) and
//! every key named through `keys`.

use std::collections::HashMap;

use safetensors::tensor::SafeTensors;

use super::keys::*;
use super::tensors::{read_flat, read_vector};
use super::{check_state, BestModel, Checkpoint, RunSettings, TrainingState};
use crate::choice::Choice;
use crate::data::normalize::{InputTransform, Normalize};
use crate::data::{DataSource, Dtype};
use crate::error::Result;
use crate::metrics::{report_from_json, report_to_json};
use crate::network::Architecture;
use crate::optimizer::{Optimizer, OptimizerKind, OptimizerState};
use crate::report::{BestSoFar, EarlyStopping, EpochProgress, EpochReport, Totals};
use crate::schedule::LrSchedule;
use crate::task::{ClassWeight, Head, HeadKernel, Loss, Task};

/// The metadata of `c`: every key its settings and state call for.
pub(super) fn write(c: &Checkpoint) -> HashMap<String, String> {
    let (s, t) = (&c.settings, &c.state);
    let (arch, o, sch) = (&s.arch, &s.opt, &s.schedule);
    let layers: Vec<String> = arch.sizes.iter().map(|n| n.to_string()).collect();
    let mut meta = vec![
        (&FORMAT, super::FORMAT.to_string()),
        (&LAYERS, layers.join(",")),
        (&ACTIVATION, arch.activation.name().into()),
        (&DROPOUT, arch.dropout.to_string()),
        (&LOSS, arch.loss().name().into()),
        (&TASK, arch.task().name().into()),
        (&OPTIMIZER, o.kind.name().into()),
        (&LR, o.lr.to_string()),
        (&MOMENTUM, o.momentum.to_string()),
        (&BETA1, o.beta1.to_string()),
        (&BETA2, o.beta2.to_string()),
        (&EPS, o.eps.to_string()),
        (&WEIGHT_DECAY, o.weight_decay.to_string()),
        (&LR_SCHEDULE, sch.kind.name().to_string()),
        (&WARMUP, sch.warmup.to_string()),
        (&LR_STEP_EVERY, sch.step_every.to_string()),
        (&LR_GAMMA, sch.gamma.to_string()),
        (&LR_MIN, sch.min_lr.to_string()),
        (&LR_SPAN, sch.span.to_string()),
        (&EPOCHS_TRAINED, t.epochs_trained.to_string()),
        (&OPTIMIZER_STEPS, t.optimizer.t.to_string()),
        (&SEED, s.seed.to_string()),
        (&RNG_STATE, rng_text(&t.rng_state)),
        (&BATCH_SIZE, s.batch_size.to_string()),
        (&IMAGE_ROWS, s.rows.to_string()),
        (&IMAGE_COLS, s.cols.to_string()),
        (&IMAGE_CHANNELS, s.channels.to_string()),
        (&INPUT_LAYOUT, s.layout.name().to_string()),
        (&INPUT_DTYPE, s.input.dtype.name().to_string()),
        (&NORMALIZE, s.input.kind.name().to_string()),
        (&VERSION, env!("CARGO_PKG_VERSION").into()),
        (&HISTORY, history_json(&t.history)),
    ];
    if let Some(names) = &s.class_names {
        meta.push((&CLASS_NAMES, names.join("\n")));
    }
    meta.extend(head_entries(&arch.head));
    if let Some(w) = &s.class_weight {
        meta.push((&CLASS_WEIGHT, w.to_text()));
    }
    if let Some(p) = &t.progress {
        meta.push((&EPOCH_STEPS, p.steps.to_string()));
        meta.push((&EPOCH_LOSS_SUM, p.totals.loss_sum.to_string()));
        meta.push((&EPOCH_CORRECT, p.totals.correct.to_string()));
        meta.push((&EPOCH_EXAMPLES, p.totals.count.to_string()));
    }
    if let Some(f) = s.val_split {
        meta.push((&VAL_SPLIT, f.to_string()));
    }
    if let Some(e) = &s.early_stopping {
        meta.push((&PATIENCE, e.patience.to_string()));
        meta.push((&MONITOR, e.monitor.name().to_string()));
    }
    meta.extend(source_entries(s.source.as_ref()));
    if let Some(v) = t.best.value {
        meta.push((&BEST_VALUE, v.to_string()));
        meta.push((&BEST_EPOCH, t.best.epoch.to_string()));
        meta.push((&EPOCHS_SINCE_BEST, t.best.since.to_string()));
    }
    if let Some(b) = &t.best_model {
        meta.push((&BEST_OPTIMIZER_STEPS, b.optimizer.t.to_string()));
        meta.push((&BEST_RNG_STATE, rng_text(&b.rng_state)));
    }
    meta.into_iter()
        .map(|(k, v)| (k.name.to_string(), v))
        .collect()
}

/// An RNG state as four hex words.
fn rng_text(r: &[u64; 4]) -> String {
    format!("{:016x},{:016x},{:016x},{:016x}", r[0], r[1], r[2], r[3])
}

/// The head's settings that its task uses.
fn head_entries(head: &Head) -> Vec<(&'static Key, String)> {
    let list = |v: &[f32]| v.iter().map(f32::to_string).collect::<Vec<_>>().join(",");
    let mut meta = Vec::new();
    if head.loss == Loss::Huber {
        meta.push((&HUBER_DELTA, head.huber_delta.to_string()));
    }
    if head.task.kernel() == HeadKernel::Sigmoid {
        meta.push((&THRESHOLD, head.threshold.to_string()));
        if !head.pos_weight.is_empty() {
            meta.push((&POS_WEIGHT, list(&head.pos_weight)));
        }
    }
    if !head.target_shift.is_empty() {
        // f32's Display is the shortest text that reads back to the same bits.
        meta.push((&TARGET_SHIFT, list(&head.target_shift)));
        meta.push((&TARGET_SCALE, list(&head.target_scale)));
    }
    meta
}

/// The data source's keys; none where a path is not UTF-8 (metadata is text, and a
/// path that would not read back is better left out than stored wrong).
fn source_entries(source: Option<&DataSource>) -> Vec<(&'static Key, String)> {
    source.and_then(source_text).unwrap_or_default()
}

/// `source_entries` of one source; None where a path is not UTF-8.
fn source_text(s: &DataSource) -> Option<Vec<(&'static Key, String)>> {
    let mut meta = vec![
        (&DATA_PATH, s.path.to_str()?.to_string()),
        (&DATA_FORMAT, s.format.name().to_string()),
    ];
    if let Some(t) = &s.test_data {
        meta.push((&DATA_TEST_DATA, t.to_str()?.to_string()));
    }
    if let Some(c) = &s.label_column {
        meta.push((&DATA_LABEL_COLUMN, c.clone()));
    }
    if let Some(c) = &s.weight_column {
        meta.push((&DATA_WEIGHT_COLUMN, c.clone()));
    }
    if let Some(f) = s.test_split {
        meta.push((&DATA_TEST_SPLIT, f.to_string()));
    }
    if s.coarse_labels {
        meta.push((&DATA_COARSE_LABELS, "true".to_string()));
    }
    if let Some(names) = &s.feature_names {
        meta.push((&DATA_FEATURES, serde_json::to_string(names).ok()?));
    }
    Some(meta)
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

/// The network and the optimizer settings, which the tensors are read by.
pub(super) fn read_network(meta: &Metadata) -> Result<(Architecture, Optimizer)> {
    meta.network()
}

/// What the run fixed besides the network: schedule, input and the rest.
pub(super) fn read_settings(
    meta: &Metadata,
    st: &SafeTensors,
    (arch, opt): (Architecture, Optimizer),
) -> Result<RunSettings> {
    let input = meta.input_transform(st, &arch)?;
    let (channels, rows, cols) = meta.example_shape(&arch)?;
    Ok(RunSettings {
        class_names: meta.class_names(&arch)?,
        class_weight: match meta.text(&CLASS_WEIGHT)? {
            Some(text) => {
                Some(ClassWeight::parse(text).map_err(|e| meta.bad(format!("metadata: {e}")))?)
            }
            None => None,
        },
        schedule: meta.schedule(opt.lr)?,
        opt,
        seed: meta.parse(&SEED)?,
        batch_size: meta.parse(&BATCH_SIZE)?,
        val_split: meta.val_split()?,
        early_stopping: meta.early_stopping()?,
        source: meta.source()?,
        rows,
        cols,
        channels,
        layout: meta.choice(&INPUT_LAYOUT)?,
        input,
        arch,
    })
}

/// Where training stood: parameters, optimizer state, epochs, RNG and history.
pub(super) fn read_state(
    meta: &Metadata,
    st: &SafeTensors,
    arch: &Architecture,
    opt: &Optimizer,
) -> Result<TrainingState> {
    let (params, optimizer) = read_model(meta, st, arch, opt, "", &OPTIMIZER_STEPS)?;
    let state = TrainingState {
        params,
        optimizer,
        epochs_trained: meta.parse(&EPOCHS_TRAINED)?,
        rng_state: meta.rng_state(&RNG_STATE)?,
        history: meta.history()?,
        progress: meta.progress()?,
        best: meta.best()?,
        best_model: read_best_model(meta, st, arch, opt)?,
    };
    let b = &state.best;
    let before = b.epoch < state.epochs_trained || state.progress.is_some();
    if state.best_model.is_some()
        && !(b.value.is_some() && b.epoch <= state.epochs_trained && before)
    {
        return Err(meta.bad(format!(
            "a best epoch's model (tensors best.*) for best_epoch {} of a checkpoint after {} epochs",
            b.epoch, state.epochs_trained
        )));
    }
    Ok(state)
}

/// The best epoch's model a later checkpoint carries (`best.*`, `best_rng_state`).
fn read_best_model(
    meta: &Metadata,
    st: &SafeTensors,
    arch: &Architecture,
    opt: &Optimizer,
) -> Result<Option<BestModel>> {
    if !meta.has(&BEST_RNG_STATE) {
        return Ok(None);
    }
    let (params, optimizer) = read_model(meta, st, arch, opt, "best.", &BEST_OPTIMIZER_STEPS)?;
    Ok(Some(BestModel {
        params,
        optimizer,
        rng_state: meta.rng_state(&BEST_RNG_STATE)?,
    }))
}

/// The parameters and optimizer state under tensor names starting with `prefix`
/// (`""`: the model; `"best."`: the best epoch's), with `steps` their step count.
fn read_model(
    meta: &Metadata,
    st: &SafeTensors,
    arch: &Architecture,
    opt: &Optimizer,
    prefix: &str,
    steps: &Key,
) -> Result<(Vec<f32>, OptimizerState<f32>)> {
    let path = meta.path;
    let params = read_flat(path, st, arch, prefix)?;
    let mut optimizer = OptimizerState::new(opt.kind, params.len());
    if !optimizer.m.is_empty() {
        optimizer.m = read_flat(path, st, arch, &format!("{prefix}optimizer.m."))?;
    }
    if !optimizer.v.is_empty() {
        optimizer.v = read_flat(path, st, arch, &format!("{prefix}optimizer.v."))?;
    }
    optimizer.t = meta.parse(steps)?;
    check_state(path, &params, &optimizer)?;
    Ok((params, optimizer))
}

impl Metadata<'_> {
    /// The format, the network and the optimizer settings.
    fn network(&self) -> Result<(Architecture, Optimizer)> {
        let format = self.need(&FORMAT)?;
        if format != super::FORMAT {
            return Err(self.bad(format!("format {format:?} is not {}", super::FORMAT)));
        }
        let sizes: Vec<usize> = self
            .need(&LAYERS)?
            .split(',')
            .map(|s| self.parse_value(&LAYERS, s))
            .collect::<Result<_>>()?;
        let [inputs, hidden @ .., classes] = sizes.as_slice() else {
            return Err(
                self.bad("metadata layers needs at least an input and an output size".into())
            );
        };
        let activation = self.choice(&ACTIVATION)?;
        let head = self.head()?;
        let arch = Architecture::with_head(*inputs, hidden, *classes, activation, head)
            .map_err(|e| self.bad(format!("metadata layers: {e}")))?
            .with_dropout(self.float(&DROPOUT)?)
            .map_err(|e| self.bad(format!("metadata: {e}")))?;
        let opt = Optimizer {
            kind: self.choice::<OptimizerKind>(&OPTIMIZER)?,
            lr: self.float(&LR)?,
            momentum: self.float(&MOMENTUM)?,
            beta1: self.float(&BETA1)?,
            beta2: self.float(&BETA2)?,
            eps: self.float(&EPS)?,
            weight_decay: self.float(&WEIGHT_DECAY)?,
        };
        opt.validate()
            .map_err(|e| self.bad(format!("metadata: {e}")))?;
        Ok((arch, opt))
    }

    /// The output head: task, loss and the settings its task writes.
    fn head(&self) -> Result<Head> {
        let task: Task = self.choice(&TASK)?;
        let loss = Loss::read(self.need(&LOSS)?, task)
            .map_err(|e| self.bad(format!("metadata loss: {e}")))?;
        let mut head = Head::new(task, loss);
        if self.has(&HUBER_DELTA) {
            head.huber_delta = self.float(&HUBER_DELTA)?;
        }
        if self.has(&THRESHOLD) {
            head.threshold = self.float(&THRESHOLD)?;
        }
        head.pos_weight = self.floats(&POS_WEIGHT)?;
        head.target_shift = self.floats(&TARGET_SHIFT)?;
        head.target_scale = self.floats(&TARGET_SCALE)?;
        Ok(head)
    }

    /// A comma-separated list of floats; empty where the key is absent.
    fn floats(&self, key: &Key) -> Result<Vec<f32>> {
        match self.text(key)? {
            None => Ok(Vec::new()),
            Some(text) => text.split(',').map(|v| self.parse_value(key, v)).collect(),
        }
    }

    fn rng_state(&self, key: &Key) -> Result<[u64; 4]> {
        let name = key.name;
        let words: Vec<u64> = self
            .need(key)?
            .split(',')
            .map(|w| {
                u64::from_str_radix(w, 16)
                    .map_err(|_| self.bad(format!("metadata {name} word {w:?} is not hex")))
            })
            .collect::<Result<_>>()?;
        let state: [u64; 4] = words
            .try_into()
            .map_err(|_| self.bad(format!("metadata {name} needs four words")))?;
        // xoshiro's all-zero state never leaves zero: every shuffle would be the same.
        if state == [0; 4] {
            return Err(self.bad(format!(
                "metadata {name} is all zeros, which no run produces"
            )));
        }
        Ok(state)
    }

    /// (channels, rows, cols), which must make the network's input count.
    fn example_shape(&self, arch: &Architecture) -> Result<(usize, usize, usize)> {
        let rows: usize = self.parse(&IMAGE_ROWS)?;
        let cols: usize = self.parse(&IMAGE_COLS)?;
        let channels: usize = self.parse(&IMAGE_CHANNELS)?;
        let size = rows.checked_mul(cols).and_then(|p| p.checked_mul(channels));
        if size != Some(arch.inputs()) {
            return Err(self.bad(format!(
                "input size {channels}×{rows}×{cols} does not match {} inputs",
                arch.inputs()
            )));
        }
        Ok((channels, rows, cols))
    }

    /// The input normalization; statistics, where the kind needs them, are the
    /// tensors `input.shift` and `input.scale`. Older checkpoints (bytes ÷ 255)
    /// wrote neither key.
    fn input_transform(&self, st: &SafeTensors, arch: &Architecture) -> Result<InputTransform> {
        let width = arch.inputs();
        let kind: Normalize = self.choice(&NORMALIZE)?;
        let dtype: Dtype = self.choice(&INPUT_DTYPE)?;
        let mut input = match dtype {
            Dtype::U8 if kind == Normalize::Unit => InputTransform::unit_bytes(width),
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

    fn schedule(&self, lr: f32) -> Result<LrSchedule> {
        let schedule = LrSchedule {
            kind: self.choice(&LR_SCHEDULE)?,
            lr,
            warmup: self.parse(&WARMUP)?,
            step_every: self.parse(&LR_STEP_EVERY)?,
            gamma: self.float(&LR_GAMMA)?,
            min_lr: self.float(&LR_MIN)?,
            span: self.parse(&LR_SPAN)?,
        };
        schedule
            .validate()
            .map_err(|e| self.bad(format!("metadata: {e}")))?;
        Ok(schedule)
    }

    fn val_split(&self) -> Result<Option<f64>> {
        if !self.has(&VAL_SPLIT) {
            return Ok(None);
        }
        let f: f64 = self.float(&VAL_SPLIT)?;
        if !(f > 0.0 && f < 1.0) {
            return Err(self.bad(format!("metadata val_split={f} is not in (0, 1)")));
        }
        Ok(Some(f))
    }

    /// Where the training data came from, where the file says.
    fn source(&self) -> Result<Option<DataSource>> {
        let Some(path) = self.text(&DATA_PATH)? else {
            return Ok(None);
        };
        let test_split = match self.has(&DATA_TEST_SPLIT) {
            true => Some(self.float::<f64>(&DATA_TEST_SPLIT)?),
            false => None,
        };
        if test_split.is_some_and(|f| !(f > 0.0 && f < 1.0)) {
            let f = test_split.unwrap_or_default();
            return Err(self.bad(format!("metadata data_test_split={f} is not in (0, 1)")));
        }
        Ok(Some(DataSource {
            path: path.into(),
            format: self.choice(&DATA_FORMAT)?,
            label_column: self.text(&DATA_LABEL_COLUMN)?.map(String::from),
            weight_column: self.text(&DATA_WEIGHT_COLUMN)?.map(String::from),
            test_data: self.text(&DATA_TEST_DATA)?.map(Into::into),
            test_split,
            coarse_labels: self.text(&DATA_COARSE_LABELS)? == Some("true"),
            feature_names: match self.text(&DATA_FEATURES)? {
                Some(json) => Some(
                    serde_json::from_str::<Vec<String>>(json)
                        .map_err(|e| self.bad(format!("metadata data_features: {e}")))?,
                ),
                None => None,
            },
        }))
    }

    fn early_stopping(&self) -> Result<Option<EarlyStopping>> {
        if !self.has(&PATIENCE) {
            return Ok(None);
        }
        Ok(Some(EarlyStopping {
            patience: self.parse(&PATIENCE)?,
            monitor: self.choice(&MONITOR)?,
        }))
    }

    fn best(&self) -> Result<BestSoFar> {
        if !self.has(&BEST_VALUE) {
            return Ok(BestSoFar::default());
        }
        let value: f64 = self.float(&BEST_VALUE)?;
        if !value.is_finite() {
            return Err(self.bad(format!("metadata best_value={value} is not finite")));
        }
        Ok(BestSoFar {
            value: Some(value),
            epoch: self.parse(&BEST_EPOCH)?,
            since: self.parse(&EPOCHS_SINCE_BEST)?,
        })
    }

    fn history(&self) -> Result<Vec<EpochReport>> {
        let text = self.need(&HISTORY)?;
        let bad = || self.bad("metadata history is not a list of finite epoch figures".into());
        let values: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|_| bad())?;
        values
            .iter()
            .map(|v| report_from_json(v).ok_or_else(bad))
            .collect()
    }

    /// An unfinished epoch's progress, where the checkpoint was written inside one.
    fn progress(&self) -> Result<Option<EpochProgress>> {
        if !self.has(&EPOCH_STEPS) {
            return Ok(None);
        }
        let steps = self.parse(&EPOCH_STEPS)?;
        let loss_sum: f64 = self.float(&EPOCH_LOSS_SUM)?;
        let correct: u64 = self.parse(&EPOCH_CORRECT)?;
        let count: u64 = self.parse(&EPOCH_EXAMPLES)?;
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
        let Some(names) = self.text(&CLASS_NAMES)? else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Layout;
    use crate::network::Activation;
    use crate::optimizer::OptimizerKind;
    use crate::report::Monitor;

    /// A checkpoint with every optional feature: an unfinished epoch, class names,
    /// a validation split, early stopping and a best epoch.
    fn everything() -> Checkpoint {
        let arch = Architecture::new(4, &[3], 2, Activation::Relu, Loss::CrossEntropy).unwrap();
        let opt = Optimizer::new(OptimizerKind::Adam, None, 0.0);
        let n = arch.param_count();
        Checkpoint {
            settings: RunSettings {
                schedule: LrSchedule::constant(opt.lr),
                opt,
                seed: 1,
                batch_size: 10,
                channels: 1,
                rows: 1,
                cols: 4,
                layout: Layout::Table,
                input: InputTransform::unit_bytes(4),
                class_names: Some(vec!["a".into(), "b".into()]),
                class_weight: Some(ClassWeight::Given(vec![1.0, 2.5])),
                val_split: Some(0.2),
                early_stopping: Some(EarlyStopping {
                    patience: 2,
                    monitor: Monitor::ValLoss,
                }),
                source: Some(DataSource {
                    path: "/data/train.csv".into(),
                    format: crate::data::Format::Csv,
                    label_column: Some("kind".into()),
                    weight_column: Some("w".into()),
                    test_data: Some("/data/test.csv".into()),
                    test_split: Some(0.25),
                    coarse_labels: true,
                    feature_names: Some(vec!["a".into(), "b\n\"c\"".into()]),
                }),
                arch,
            },
            state: TrainingState {
                params: vec![0.5; n],
                optimizer: OptimizerState::new(OptimizerKind::Adam, n),
                epochs_trained: 1,
                rng_state: [1, 2, 3, 4],
                history: Vec::new(),
                progress: Some(EpochProgress {
                    steps: 1,
                    totals: Totals::default(),
                }),
                best: BestSoFar {
                    value: Some(0.5),
                    epoch: 1,
                    since: 0,
                },
                best_model: Some(BestModel {
                    params: vec![0.25; n],
                    optimizer: OptimizerState::new(OptimizerKind::Adam, n),
                    rng_state: [5, 6, 7, 8],
                }),
            },
        }
    }

    /// `everything()` with another head: a weighted multilabel one, or a
    /// standardized Huber regression (the keys only those heads write).
    fn with_head(head: Head, outputs: usize) -> Checkpoint {
        let mut c = everything();
        let arch = Architecture::with_head(4, &[3], outputs, Activation::Relu, head).unwrap();
        c.state.params = vec![0.5; arch.param_count()];
        c.state.optimizer = OptimizerState::new(OptimizerKind::Adam, arch.param_count());
        c.settings.class_names = None;
        c.settings.arch = arch;
        c
    }

    fn heads() -> [Checkpoint; 2] {
        let mut bce = Head::new(Task::Multilabel, Loss::Bce);
        bce.pos_weight = vec![2.0, 0.5];
        bce.threshold = 0.25;
        let mut huber = Head::new(Task::Regress, Loss::Huber);
        huber.huber_delta = 0.5;
        huber.target_shift = vec![1.5, -2.0];
        huber.target_scale = vec![0.1, 3.0];
        [with_head(bce, 2), with_head(huber, 2)]
    }

    #[test]
    fn a_file_from_before_tasks_is_a_classifier_whose_mse_is_the_softmax_one() {
        let mut c = everything();
        let arch = Architecture::new(4, &[3], 2, Activation::Relu, Loss::SoftmaxMse).unwrap();
        c.settings.arch = arch;
        let mut map = write(&c);
        map.remove(TASK.name);
        map.insert(LOSS.name.into(), "mse".into());
        let meta = Metadata {
            path: "old.st".as_ref(),
            map: &map,
        };
        let (arch, _) = read_network(&meta).unwrap();
        assert_eq!(
            (arch.task(), arch.loss()),
            (Task::Classify, Loss::SoftmaxMse)
        );
    }

    #[test]
    fn every_head_reads_back_as_written() {
        for c in heads() {
            let bytes = c.to_bytes("head").unwrap();
            assert_eq!(Checkpoint::from_bytes(&bytes, "head".as_ref()).unwrap(), c);
        }
    }

    #[test]
    fn the_writer_writes_exactly_the_keys_the_table_names() {
        let mut written = write(&everything());
        for c in heads() {
            written.extend(write(&c));
        }
        let mut names: Vec<&str> = written.keys().map(String::as_str).collect();
        let mut table: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        table.sort_unstable();
        assert_eq!(names, table);
    }

    #[test]
    fn a_checkpoint_with_every_feature_reads_back_as_written() {
        let c = everything();
        let bytes = c.to_bytes("everything").unwrap();
        let back = Checkpoint::from_bytes(&bytes, "everything".as_ref()).unwrap();
        assert_eq!(back, c);
    }
}
