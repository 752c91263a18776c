//! The contract between the training loop and a backend (the CPU reference, the
//! GPU path): what a backend is built from ([`TrainSetup`]), what it does
//! ([`Backend`]), and the rules every backend applies the same way (batch sizes,
//! the prediction rule, the checks of its inputs). Both backends implement it and
//! nothing in it knows either of them.

use crate::choice::Choice;
use crate::data::normalize::InputTransform;
use crate::data::{Dataset, Split, SplitKind, Targets};
use crate::error::{Error, Result};
use crate::network::Architecture;
use crate::optimizer::{Optimizer, OptimizerState};
use crate::report::Totals;
pub use crate::task::argmax;
use crate::task::{Head, HeadKernel};

/// Examples per forward pass when evaluating (no gradients, so larger batches are fine).
pub const EVAL_BATCH: usize = 500;

/// Examples per training step unless the caller says otherwise (the tutorial's 100).
pub const DEFAULT_BATCH_SIZE: usize = 100;

/// The largest batch accepted anywhere (also a sanity bound on checkpoints).
pub const MAX_BATCH_SIZE: usize = 1 << 24;

/// A backend's answer that may have to wait for the device (a read-back): a
/// future, so that in a browser nothing blocks; natively the blocking forms
/// (`end_epoch`, `parameters`, …) wait for it.
pub type Pending<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + 'a>>;

/// An answer that is there already (the CPU backend's), as a `Pending`.
pub fn ready<'a, T: 'a>(value: Result<T>) -> Pending<'a, T> {
    Box::pin(std::future::ready(value))
}

/// What a training backend does. Parameters, gradients and optimizer state live
/// inside it for the whole run; the loop only says which examples form each batch.
/// What reads results back is asynchronous (`*_async`); natively each has a
/// blocking form of the same name without the suffix.
pub trait Backend {
    /// One line naming the device, for logs and metrics ("cpu (2 threads)", an adapter name).
    fn describe(&self) -> String;
    /// Starts an epoch over the training examples in `order` (a permutation).
    fn begin_epoch(&mut self, order: &[u32]) -> Result<()>;
    /// One optimizer step on the examples `order[start..start + len]`.
    /// May only record work (the GPU backend); results appear at `end_epoch`.
    fn train_batch(&mut self, start: usize, len: usize) -> Result<()>;
    /// Finishes the epoch's work and returns the training loss and accuracy,
    /// measured on each batch before its update.
    fn end_epoch_async(&mut self) -> Pending<'_, Totals>;
    /// Loss and accuracy over a whole split with the current parameters.
    fn evaluate_async(&mut self, split: SplitKind) -> Pending<'_, Totals>;
    /// The network's outputs (logits; values for a regression, in the units it
    /// learns) for every example of a split, example by example.
    fn outputs_async(&mut self, split: SplitKind) -> Pending<'_, Vec<f32>>;
    /// The current parameters, in `network::Architecture`'s flat layout.
    fn parameters_async(&mut self) -> Pending<'_, Vec<f32>>;
    /// The optimizer's state (momentum's velocity, Adam's moments, the step count),
    /// for checkpoints.
    fn optimizer_state_async(&mut self) -> Pending<'_, OptimizerState<f32>>;

    /// Sets the learning rate of the steps that follow (a schedule's value per step).
    fn set_learning_rate(&mut self, lr: f32);
    /// Replaces the parameters (in `Architecture`'s flat layout), e.g. with the best
    /// epoch's to evaluate them.
    fn set_parameters(&mut self, params: &[f32]) -> Result<()>;

    /// Restores a saved optimizer state (same optimizer, same parameter count).
    fn set_optimizer_state(&mut self, state: &OptimizerState<f32>) -> Result<()>;

    /// Loss and accuracy of the current epoch's batches so far, where that costs
    /// nothing (the CPU); the GPU backend reads them back only at `end_epoch`.
    fn running_totals(&self) -> Option<Totals> {
        None
    }

    /// `end_epoch_async`, waited for.
    #[cfg(not(target_arch = "wasm32"))]
    fn end_epoch(&mut self) -> Result<Totals> {
        pollster::block_on(self.end_epoch_async())
    }
    /// `evaluate_async`, waited for.
    #[cfg(not(target_arch = "wasm32"))]
    fn evaluate(&mut self, split: SplitKind) -> Result<Totals> {
        pollster::block_on(self.evaluate_async(split))
    }
    /// `outputs_async`, waited for.
    #[cfg(not(target_arch = "wasm32"))]
    fn outputs(&mut self, split: SplitKind) -> Result<Vec<f32>> {
        pollster::block_on(self.outputs_async(split))
    }
    /// `parameters_async`, waited for.
    #[cfg(not(target_arch = "wasm32"))]
    fn parameters(&mut self) -> Result<Vec<f32>> {
        pollster::block_on(self.parameters_async())
    }
    /// `optimizer_state_async`, waited for.
    #[cfg(not(target_arch = "wasm32"))]
    fn optimizer_state(&mut self) -> Result<OptimizerState<f32>> {
        pollster::block_on(self.optimizer_state_async())
    }
}

/// What a backend is built to train: the network, its starting parameters (in
/// `Architecture`'s flat layout), the optimizer and the batch size.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSetup {
    /// The network.
    pub arch: Architecture,
    /// The optimizer.
    pub opt: Optimizer,
    /// Starting parameters, in `Architecture`'s flat layout.
    pub params: Vec<f32>,
    /// Examples per step.
    pub batch_size: usize,
    /// The run's seed, which (with the step, layer and element) picks dropout masks.
    pub seed: u64,
    /// What the network sees of an example (the model's normalization).
    pub input: InputTransform,
}

/// The training batch actually used (never more than the training set, whatever
/// the caller asked for) and the rows a backend's batch buffers hold (evaluation
/// runs `EVAL_BATCH` at a time).
pub fn batch_rows(batch_size: usize, train_len: usize) -> (usize, usize) {
    let batch = batch_size.min(train_len).max(1);
    (batch, batch.max(EVAL_BATCH))
}

/// What every backend needs of its setup and data: parameters that fill the
/// network's flat layout, examples in both splits, and images of the input size.
pub fn check_setup(setup: &TrainSetup, data: &Dataset) -> Result<()> {
    let arch = &setup.arch;
    if setup.params.len() != arch.param_count() {
        return Err(Error::Usage(format!(
            "{} parameters for a {} network of {}",
            setup.params.len(),
            arch.shape_string(),
            arch.param_count()
        )));
    }
    if data.train.is_empty() || data.test.is_empty() {
        return Err(Error::data(&data.dir, "a split with no examples"));
    }
    if data.width() != arch.inputs() {
        return Err(Error::data(
            &data.dir,
            format!(
                "{} features per example for a network of {} inputs",
                data.width(),
                arch.inputs()
            ),
        ));
    }
    check_targets(arch, data)?;
    setup.input.check(arch.inputs())?;
    if setup.input.dtype != data.dtype() {
        return Err(Error::data(
            &data.dir,
            format!(
                "{} features for a model trained on {}",
                data.dtype().name(),
                setup.input.dtype.name()
            ),
        ));
    }
    Ok(())
}

/// The network's head must take the data's targets: the same task, and for
/// value targets one output per value.
fn check_targets(arch: &Architecture, data: &Dataset) -> Result<()> {
    let task = arch.task();
    let values = data
        .train
        .targets
        .values()
        .map(|_| data.train.targets.width());
    let fits = task == data.task
        && match values {
            Some(width) => width == arch.outputs(),
            None => data.classes <= arch.classes(),
        };
    if !fits {
        return Err(Error::data(
            &data.dir,
            format!(
                "{} targets of {} {}, for a {} network of {} outputs",
                data.task.name(),
                data.classes,
                match values {
                    Some(_) => "values",
                    None => "classes",
                },
                task.name(),
                arch.outputs()
            ),
        ));
    }
    Ok(())
}

/// A batch `start..start + len` must be non-empty, fit the batch buffers (`rows`)
/// and lie inside the training set of `n`.
pub fn check_batch(start: usize, len: usize, rows: usize, n: usize) -> Result<()> {
    if len == 0 || len > rows || start + len > n {
        return Err(Error::Usage(format!(
            "a batch of examples {start}..{} does not fit (batch buffers hold {rows}, the training set {n})",
            start + len
        )));
    }
    Ok(())
}

/// An epoch order must name every training example's index, each below `n`.
pub fn check_order(order: &[u32], n: usize) -> Result<()> {
    if order.len() != n {
        return Err(Error::Usage(format!(
            "an epoch order of {} examples for a training set of {n}",
            order.len()
        )));
    }
    if let Some(&bad) = order.iter().find(|&&i| i as usize >= n) {
        return Err(Error::Usage(format!(
            "example {bad} in the epoch order is outside the training set of {n}"
        )));
    }
    Ok(())
}

/// What a loss head reads of each example, `stride` u32 words: its target (a
/// class index, or the f32 bits of each output's value in the units the network
/// learns) and, where `weighted`, its weight. Made once per split on the host for
/// both paths, so that both read the same words.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetWords {
    /// Every example's words, back to back.
    pub words: Vec<u32>,
    /// Words per example.
    pub stride: usize,
    /// Whether each example's last word is its weight.
    pub weighted: bool,
}

impl TargetWords {
    /// The words of `split` for `head`, with the split's weights where `weighted`
    /// (training: `--weight-column`, `--class-weight`).
    pub fn new(split: &Split, head: &Head, weighted: bool) -> TargetWords {
        let weights = split.weights.as_deref().filter(|_| weighted);
        let width = split.targets.width();
        let stride = width + weights.is_some() as usize;
        let mut words = Vec::with_capacity(split.len() * stride);
        for i in 0..split.len() {
            match (&split.targets, head.task.kernel()) {
                (Targets::Classes(c), HeadKernel::Softmax) => words.push(c[i]),
                // A binary target is the probability of the second class: 0 or 1.
                (Targets::Classes(c), _) => words.push((c[i] as f32).to_bits()),
                (Targets::Values { values, .. }, kernel) => {
                    for (j, &v) in values[i * width..(i + 1) * width].iter().enumerate() {
                        let v = match kernel {
                            HeadKernel::Identity => head.from_target_units(j, v),
                            _ => v,
                        };
                        words.push(v.to_bits());
                    }
                }
            }
            if let Some(w) = weights {
                words.push(w[i].to_bits());
            }
        }
        TargetWords {
            words,
            stride,
            weighted: weights.is_some(),
        }
    }

    /// Examples `rows` as a batch.
    pub fn batch(&self, rows: std::ops::Range<usize>) -> BatchTargets<'_> {
        BatchTargets {
            words: &self.words[rows.start * self.stride..rows.end * self.stride],
            stride: self.stride,
            weighted: self.weighted,
        }
    }
}

/// A batch's target words, as a loss head reads them.
#[derive(Clone, Copy, Debug)]
pub struct BatchTargets<'a> {
    /// `stride` words per example.
    pub words: &'a [u32],
    /// Words per example.
    pub stride: usize,
    /// Whether each example's last word is its weight.
    pub weighted: bool,
}

impl BatchTargets<'_> {
    /// Word `k` of example `row`.
    pub fn word(&self, row: usize, k: usize) -> u32 {
        self.words[row * self.stride + k]
    }

    /// Value `j` of example `row` (a float target).
    pub fn value(&self, row: usize, j: usize) -> f32 {
        f32::from_bits(self.word(row, j))
    }

    /// Example `row`'s weight, after its `width` target words (1 unweighted).
    pub fn weight(&self, row: usize, width: usize) -> f32 {
        match self.weighted {
            true => f32::from_bits(self.word(row, width)),
            false => 1.0,
        }
    }
}
