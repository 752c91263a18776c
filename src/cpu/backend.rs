//! `--cpu`: the training backend on the host, over the reference operations.

use std::collections::BTreeMap;
use std::sync::Arc;
use web_time::Instant;

use super::cpu_threads;
use super::kernel;
use super::net::CpuNet;
use super::optimizer::optimizer_update;
use crate::backend::{
    batch_rows, check_batch, check_order, check_setup, ready, Backend, Pending, TargetWords,
    TrainSetup, EVAL_BATCH,
};
use crate::choice::Choice;
use crate::data::normalize::InputTransform;
use crate::data::{Dataset, Split, SplitKind};
use crate::dropout::DropoutStep;
use crate::error::{Error, Result};
use crate::network::{train_flops, Architecture};
use crate::optimizer::{Optimizer, OptimizerState};
use crate::profile::{KernelTime, Measured};
use crate::report::Totals;

/// `--cpu`: trains on the host with the reference operations.
pub struct CpuBackend {
    data: Arc<Dataset>,
    net: CpuNet<f32>,
    params: Vec<f32>,
    grads: Vec<f32>,
    opt: Optimizer,
    state: OptimizerState<f32>,
    order: Vec<u32>,
    /// What the loss head reads of each example of each split (training: weighted).
    targets: Arc<SplitTargets>,
    /// The batch's target words, gathered in the epoch's order.
    batch_targets: TargetWords,
    max_batch: usize,
    epoch: Totals,
    /// Time per phase of a step, when a benchmark asks (`Measured::enable_profiling`).
    phases: Option<PhaseClock>,
    /// The run's seed, for dropout masks.
    seed: u64,
    /// What the network sees of each example.
    input: InputTransform,
}

impl CpuBackend {
    pub fn new(data: Arc<Dataset>, setup: TrainSetup) -> Result<Self> {
        check_setup(&setup, &data)?;
        let TrainSetup {
            arch,
            opt,
            params,
            batch_size,
            seed,
            input,
        } = setup;
        let max_batch = batch_rows(batch_size, data.train.len()).1;
        let targets = SplitTargets::new(&data, &arch.head);
        Ok(CpuBackend {
            net: CpuNet::new(&arch, max_batch),
            batch_targets: TargetWords {
                words: Vec::with_capacity(max_batch * targets.train.stride),
                stride: targets.train.stride,
                weighted: targets.train.weighted,
            },
            targets: Arc::new(targets),
            max_batch,
            grads: vec![0.0; params.len()],
            state: OptimizerState::new(opt.kind, params.len()),
            params,
            opt,
            order: Vec::new(),
            epoch: Totals::default(),
            phases: None,
            seed,
            input,
            data,
        })
    }

    /// One training step on examples `order[start..start + len]`, its stages named
    /// as the GPU path records them: gather, forward (every layer, with the step's
    /// dropout), the loss head, backward (every layer, last first), the optimizer
    /// update; each timed into `clock` where a benchmark profiles.
    fn step(&mut self, start: usize, len: usize, clock: &mut Option<Clock>) -> Result<()> {
        self.gather(start, len)?;
        lap(clock, "gather", 0.0);
        let step = self.dropout_step();
        self.net.forward_training(&self.params, len, step)?;
        let forward_flops = forward_flops(&self.net.arch, len);
        lap(clock, "forward (matmul + bias + activation)", forward_flops);
        let t = self
            .net
            .loss_backward(self.batch_targets.batch(0..len), len);
        lap(clock, "softmax + loss + gradient", 0.0);
        self.net.backward(&self.params, &mut self.grads, len)?;
        let backward_flops = train_flops(&self.net.arch, len) - forward_flops;
        lap(clock, "backward (matmuls + activation')", backward_flops);
        optimizer_update(&self.opt, &mut self.state, &mut self.params, &self.grads);
        lap(clock, "optimizer update", 0.0);
        self.epoch
            .add(t.loss_sum as f64, t.correct as u64, len as u64);
        Ok(())
    }

    /// The input batch and its labels: training examples `order[start..start + len]`.
    fn gather(&mut self, start: usize, len: usize) -> Result<()> {
        let indices = &self.order[start..start + len];
        let train = &self.data.train;
        self.net.gather(train, indices, &self.input)?;
        let (all, batch) = (&self.targets.train, &mut self.batch_targets);
        batch.words.clear();
        for &i in indices {
            let i = i as usize;
            batch
                .words
                .extend_from_slice(&all.words[i * all.stride..(i + 1) * all.stride]);
        }
        Ok(())
    }

    /// The dropout masks of the step being taken (the optimizer's count after it).
    fn dropout_step(&self) -> DropoutStep {
        DropoutStep::next(self.seed, self.state.t)
    }

    fn evaluate_split(&mut self, which: SplitKind) -> Result<Totals> {
        let mut totals = Totals::default();
        let targets = Arc::clone(&self.targets);
        let words = targets.evaluated(&self.data, which);
        self.forward_in_order(which, |net, _, start, len| {
            let t = net.loss_backward(words.batch(start..start + len), len);
            totals.add(t.loss_sum as f64, t.correct as u64, len as u64);
        })?;
        Ok(totals)
    }

    fn outputs_of(&mut self, which: SplitKind) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        self.forward_in_order(which, |net, _, _, len| {
            out.extend_from_slice(net.logits(len));
        })?;
        Ok(out)
    }

    /// Runs the forward pass over a whole split in order, `EVAL_BATCH` examples at a
    /// time, handing each batch (network, split, first example, count) to `visit`.
    fn forward_in_order(
        &mut self,
        which: SplitKind,
        mut visit: impl FnMut(&mut CpuNet<f32>, &Split, usize, usize),
    ) -> Result<()> {
        let data = Arc::clone(&self.data);
        let split = data.split(which);
        let mut indices: Vec<u32> = Vec::with_capacity(EVAL_BATCH);
        for start in (0..split.len()).step_by(EVAL_BATCH) {
            let len = EVAL_BATCH.min(split.len() - start);
            indices.clear();
            indices.extend(start as u32..(start + len) as u32);
            self.net.gather(split, &indices, &self.input)?;
            self.net.forward(&self.params, len)?;
            visit(&mut self.net, split, start, len);
        }
        Ok(())
    }
}

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        format!(
            "cpu ({} threads, {} kernel)",
            cpu_threads(),
            kernel::current().name()
        )
    }

    fn begin_epoch(&mut self, order: &[u32]) -> Result<()> {
        check_order(order, self.data.train.len())?;
        self.order.clear();
        self.order.extend_from_slice(order);
        self.epoch = Totals::default();
        Ok(())
    }

    fn train_batch(&mut self, start: usize, len: usize) -> Result<()> {
        check_batch(start, len, self.max_batch, self.order.len())?;
        let mut phases = self.phases.take();
        let stepped = self.step(start, len, &mut phases.as_mut().map(PhaseClock::start));
        self.phases = phases;
        stepped
    }

    fn end_epoch_async(&mut self) -> Pending<'_, Totals> {
        ready(Ok(self.epoch))
    }

    fn running_totals(&self) -> Option<Totals> {
        Some(self.epoch)
    }

    fn evaluate_async(&mut self, which: SplitKind) -> Pending<'_, Totals> {
        ready(self.evaluate_split(which))
    }

    fn outputs_async(&mut self, which: SplitKind) -> Pending<'_, Vec<f32>> {
        ready(self.outputs_of(which))
    }

    fn parameters_async(&mut self) -> Pending<'_, Vec<f32>> {
        ready(Ok(self.params.clone()))
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.opt.lr = lr;
    }

    fn set_parameters(&mut self, params: &[f32]) -> Result<()> {
        check_params_len(params.len(), self.params.len())?;
        self.params.copy_from_slice(params);
        Ok(())
    }

    fn optimizer_state_async(&mut self) -> Pending<'_, OptimizerState<f32>> {
        ready(Ok(self.state.clone()))
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState<f32>) -> Result<()> {
        state.check_fits(self.opt.kind, self.params.len())?;
        self.state = state.clone();
        Ok(())
    }
}

impl Measured for CpuBackend {
    fn enable_profiling(&mut self) -> bool {
        self.phases = Some(PhaseClock::default());
        true
    }

    fn profile(&self) -> Vec<(&'static str, KernelTime)> {
        self.phases
            .iter()
            .flat_map(|p| p.phases.iter().map(|(&k, &v)| (k, v)))
            .collect()
    }
}

/// Each split's target words: the training split's with its weights, the
/// evaluated ones without (evaluation figures are never weighted).
struct SplitTargets {
    train: TargetWords,
    /// The training split's words without weights, where it has weights.
    train_unweighted: Option<TargetWords>,
    test: TargetWords,
    val: Option<TargetWords>,
}

impl SplitTargets {
    fn new(data: &Dataset, head: &crate::task::Head) -> Self {
        let train = TargetWords::new(&data.train, head, true);
        SplitTargets {
            train_unweighted: train
                .weighted
                .then(|| TargetWords::new(&data.train, head, false)),
            train,
            test: TargetWords::new(&data.test, head, false),
            val: data.val.as_ref().map(|v| TargetWords::new(v, head, false)),
        }
    }

    /// The words an evaluation of `kind` reads (`Dataset::present`): never weighted.
    fn evaluated(&self, data: &Dataset, kind: SplitKind) -> &TargetWords {
        match (data.present(kind), &self.val) {
            (SplitKind::Train, _) => self.train_unweighted.as_ref().unwrap_or(&self.train),
            (SplitKind::Val, Some(v)) => v,
            _ => &self.test,
        }
    }
}

fn check_params_len(given: usize, network: usize) -> Result<()> {
    if given != network {
        return Err(Error::Usage(format!(
            "{given} parameters for a network of {network}"
        )));
    }
    Ok(())
}

/// A running phase clock: the clock and when its current phase began.
type Clock<'a> = (&'a mut PhaseClock, Instant);

/// Wall time and arithmetic per phase of a training step.
#[derive(Default)]
struct PhaseClock {
    phases: BTreeMap<&'static str, KernelTime>,
}

impl PhaseClock {
    fn start(&mut self) -> (&mut Self, Instant) {
        (self, Instant::now())
    }
}

/// Books the time since the last lap to phase `name` (nothing unless profiling:
/// a plain training step reads no clock).
fn lap(clock: &mut Option<Clock>, name: &'static str, flops: f64) {
    if let Some((p, t)) = clock {
        let k = p.phases.entry(name).or_default();
        k.calls += 1;
        k.seconds += t.elapsed().as_secs_f64();
        k.flops += flops;
        *t = Instant::now();
    }
}

/// Matmul arithmetic of the forward products of one batch.
fn forward_flops(arch: &Architecture, batch: usize) -> f64 {
    arch.dense_layers()
        .map(|l| 2.0 * (l.inputs * l.outputs * batch) as f64)
        .sum()
}
