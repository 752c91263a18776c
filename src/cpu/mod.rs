//! The CPU reference path: the same operations as shaders/, under the same names,
//! in plain Rust over matrixmultiply's GEMM. It is both the `--cpu` fallback and
//! the oracle every GPU result is checked against.

pub mod activation;
pub mod dropout;
pub mod kernel;
pub mod layer;
pub mod matmul;
pub mod optimizer;
pub mod pool;
pub mod real;
pub mod softmax_xent;

use std::collections::BTreeMap;
use std::sync::Arc;
use web_time::Instant;

use crate::backend::{
    argmax, batch_rows, check_batch, check_order, check_setup, ready, Backend, Pending, TrainSetup,
    EVAL_BATCH,
};
use crate::choice::Choice;
use crate::data::normalize::InputTransform;
use crate::data::{Dataset, Row, Split, SplitKind};
use crate::dropout::{DropoutMask, DropoutStep};
use crate::error::{Error, Result};
use crate::network::{train_flops, Architecture};
use crate::optimizer::{Optimizer, OptimizerState};
use crate::profile::{KernelTime, Measured};
use crate::report::Totals;
use dropout::{dropout_backward, dropout_forward};
use layer::{dense_backward, dense_forward};
use optimizer::optimizer_update;
use pool::Disjoint;
pub use real::Real;
use softmax_xent::{softmax_xent_forward_backward, LossTotals};

/// The network's forward and backward pass over preallocated workspaces
/// (no allocation per batch), generic over f32 (training) and f64 (gradient check).
pub struct CpuNet<T> {
    pub arch: Architecture,
    max_batch: usize,
    /// acts[0]: the input batch (batch×in); acts[l+1]: layer l's output after its
    /// activation (the logits for the last layer). Backward reads these.
    acts: Vec<Vec<T>>,
    /// dz[l]: gradient of the mean loss with respect to layer l's pre-activation output.
    dz: Vec<Vec<T>>,
    /// kept[l+1]: layer l's output after dropout, where the layer has dropout; what
    /// the next layer reads while training.
    kept: Vec<Option<Vec<T>>>,
    /// The dropout step of the last training forward pass, which backward repeats.
    step: Option<DropoutStep>,
}

impl<T: Real> CpuNet<T> {
    pub fn new(arch: &Architecture, max_batch: usize) -> Self {
        let acts = arch
            .sizes
            .iter()
            .map(|&s| vec![T::ZERO; s * max_batch])
            .collect();
        let dz = arch.sizes[1..]
            .iter()
            .map(|&s| vec![T::ZERO; s * max_batch])
            .collect();
        let kept = std::iter::once(None)
            .chain(
                arch.dense_layers()
                    .map(|l| l.dropout.map(|_| vec![T::ZERO; l.outputs * max_batch])),
            )
            .collect();
        CpuNet {
            arch: arch.clone(),
            max_batch,
            acts,
            dz,
            kept,
            step: None,
        }
    }

    /// The input rows (batch×in) to fill before `forward`.
    pub fn input_mut(&mut self, batch: usize) -> &mut [T] {
        &mut self.acts[0][..batch * self.arch.inputs()]
    }

    /// Builds the input batch from examples `indices` of `split`, each feature
    /// transformed by `input` ((x − shift)·scale, as the GPU gather computes it).
    pub fn gather(&mut self, split: &Split, indices: &[u32], input: &InputTransform) -> Result<()> {
        self.check_batch(indices.len())?;
        let width = split.width;
        if input.width() != width {
            return Err(Error::Usage(format!(
                "an input transform of {} features for examples of {width}",
                input.width()
            )));
        }
        let x = Disjoint::new(self.input_mut(indices.len()));
        pool::for_ranges(indices.len(), 32, &|rows| {
            // SAFETY: for_ranges hands every part rows of its own.
            let x = unsafe { x.range(rows.start * width..rows.end * width) };
            let indices = &indices[rows];
            // Examples sit at random places in a data set larger than the caches, and
            // each is too short for the hardware prefetcher to get going: ask for the
            // examples a few rows ahead, so that their memory latency overlaps this row's work.
            for &i in indices.iter().take(PREFETCH_ROWS) {
                prefetch(split.row(i as usize));
            }
            for (r, (row, &i)) in x.chunks_exact_mut(width).zip(indices).enumerate() {
                if let Some(&ahead) = indices.get(r + PREFETCH_ROWS) {
                    prefetch(split.row(ahead as usize));
                }
                let stats = input.shift.iter().zip(&input.scale);
                // A subtraction then a multiplication, in f32: the GPU does the same,
                // so both paths see bit-identical inputs (bytes: x·(1/255) exactly).
                match split.row(i as usize) {
                    Row::U8(src) => {
                        for ((v, &b), (&t, &s)) in row.iter_mut().zip(src).zip(stats) {
                            *v = T::from_f32((b as f32 - t) * s);
                        }
                    }
                    Row::F32(src) => {
                        for ((v, &f), (&t, &s)) in row.iter_mut().zip(src).zip(stats) {
                            *v = T::from_f32((f - t) * s);
                        }
                    }
                }
            }
        });
        Ok(())
    }

    /// Runs every layer on the `batch` rows of the input batch, without dropout
    /// (evaluation).
    pub fn forward(&mut self, params: &[T], batch: usize) -> Result<()> {
        self.forward_with(params, batch, None)
    }

    /// The forward pass of training step `step`, with dropout where the network has it.
    pub fn forward_training(
        &mut self,
        params: &[T],
        batch: usize,
        step: DropoutStep,
    ) -> Result<()> {
        self.forward_with(params, batch, Some(step))
    }

    fn forward_with(
        &mut self,
        params: &[T],
        batch: usize,
        step: Option<DropoutStep>,
    ) -> Result<()> {
        self.check_batch(batch)?;
        self.step = step;
        for layer in self.arch.dense_layers() {
            let l = layer.index;
            let (before, after) = self.acts.split_at_mut(l + 1);
            let input = match (&self.kept[l], step) {
                (Some(kept), Some(_)) => &kept[..batch * layer.inputs],
                _ => &before[l][..batch * layer.inputs],
            };
            let z = &mut after[0][..batch * layer.outputs];
            dense_forward(&layer, params, input, z, batch);
            if let (Some(kept), Some(mask)) =
                (&mut self.kept[l + 1], DropoutMask::for_layer(&layer, step))
            {
                dropout_forward(z, &mut kept[..batch * layer.outputs], &mask);
            }
        }
        Ok(())
    }

    pub fn logits(&self, batch: usize) -> &[T] {
        &self.acts[self.arch.layers()][..batch * self.arch.classes()]
    }

    /// Loss and its gradient at the logits, averaged over `batch` examples.
    pub fn loss_backward(&mut self, labels: &[u8], batch: usize) -> LossTotals<T> {
        let l = self.arch.layers();
        let c = self.arch.classes();
        softmax_xent_forward_backward(
            &self.acts[l][..batch * c],
            &labels[..batch],
            c,
            self.arch.loss,
            batch,
            &mut self.dz[l - 1][..batch * c],
        )
    }

    /// Backpropagates from the logits gradient into `grads` (same layout as params),
    /// through the dropout masks of the last training forward pass.
    pub fn backward(&mut self, params: &[T], grads: &mut [T], batch: usize) -> Result<()> {
        self.check_batch(batch)?;
        for layer in self.arch.dense_layers().rev() {
            let l = layer.index;
            let (below, this) = self.dz.split_at_mut(l);
            let dz = &mut this[0][..batch * layer.outputs];
            if let Some(mask) = DropoutMask::for_layer(&layer, self.step) {
                dropout_backward(dz, &mask);
            }
            let a_act = &self.acts[l][..batch * layer.inputs];
            let a = match (&self.kept[l], self.step) {
                (Some(kept), Some(_)) => &kept[..batch * layer.inputs],
                _ => a_act,
            };
            let da = below.last_mut().map(|d| &mut d[..batch * layer.inputs]);
            dense_backward(&layer, params, a, a_act, dz, grads, da, batch);
        }
        Ok(())
    }

    fn check_batch(&self, batch: usize) -> Result<()> {
        if batch > self.max_batch {
            return Err(Error::Usage(format!(
                "a batch of {batch} examples, but the network's buffers hold {}",
                self.max_batch
            )));
        }
        Ok(())
    }
}

/// `--cpu`: trains on the host with the reference operations.
pub struct CpuBackend {
    data: Arc<Dataset>,
    net: CpuNet<f32>,
    params: Vec<f32>,
    grads: Vec<f32>,
    opt: Optimizer,
    state: OptimizerState<f32>,
    order: Vec<u32>,
    labels: Vec<u8>,
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
        Ok(CpuBackend {
            net: CpuNet::new(&arch, max_batch),
            grads: vec![0.0; params.len()],
            state: OptimizerState::new(opt.kind, params.len()),
            params,
            opt,
            order: Vec::new(),
            labels: vec![0; max_batch],
            epoch: Totals::default(),
            phases: None,
            seed,
            input,
            data,
        })
    }

    fn evaluate_split(&mut self, which: SplitKind) -> Result<Totals> {
        let mut totals = Totals::default();
        self.forward_in_order(which, |net, split, start, len| {
            let t = net.loss_backward(&split.labels[start..start + len], len);
            totals.add(t.loss_sum as f64, t.correct as u64, len as u64);
        })?;
        Ok(totals)
    }

    fn predict_split(&mut self, which: SplitKind) -> Result<Vec<u8>> {
        let classes = self.net.arch.classes();
        let mut out = Vec::new();
        self.forward_in_order(which, |net, _, _, len| {
            out.extend(
                net.logits(len)
                    .chunks_exact(classes)
                    .map(|z| argmax(z) as u8),
            );
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
        check_batch(start, len, self.labels.len(), self.order.len())?;
        let arch = self.net.arch.clone();
        let mut clock = self.phases.as_mut().map(PhaseClock::start);
        let indices = &self.order[start..start + len];
        let train = &self.data.train;
        self.net.gather(train, indices, &self.input)?;
        for (l, &i) in self.labels.iter_mut().zip(indices) {
            *l = train.labels[i as usize];
        }
        lap(&mut clock, "gather", 0.0);
        let step = DropoutStep {
            seed: self.seed,
            // The optimizer step this batch takes (its count, after the update).
            step: (self.state.t + 1) as u32,
        };
        self.net.forward_training(&self.params, len, step)?;
        let forward_flops = forward_flops(&arch, len);
        lap(
            &mut clock,
            "forward (matmul + bias + activation)",
            forward_flops,
        );
        let t = self.net.loss_backward(&self.labels, len);
        lap(&mut clock, "softmax + loss + gradient", 0.0);
        self.net.backward(&self.params, &mut self.grads, len)?;
        let backward_flops = train_flops(&arch, len) - forward_flops;
        lap(
            &mut clock,
            "backward (matmuls + activation')",
            backward_flops,
        );
        optimizer_update(&self.opt, &mut self.state, &mut self.params, &self.grads);
        lap(&mut clock, "optimizer update", 0.0);
        self.epoch
            .add(t.loss_sum as f64, t.correct as u64, len as u64);
        Ok(())
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

    fn predictions_async(&mut self, which: SplitKind) -> Pending<'_, Vec<u8>> {
        ready(self.predict_split(which))
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

fn check_params_len(given: usize, network: usize) -> Result<()> {
    if given != network {
        return Err(Error::Usage(format!(
            "{given} parameters for a network of {network}"
        )));
    }
    Ok(())
}

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
fn lap(clock: &mut Option<(&mut PhaseClock, Instant)>, name: &'static str, flops: f64) {
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

/// Threads the CPU path uses (`pool::set_threads`, else every core).
pub fn cpu_threads() -> usize {
    pool::threads()
}

/// Bytes the CPU path allocates for `arch` with batches of `batch`: parameters,
/// gradients, optimizer state, and activations plus their gradients.
pub fn memory_needed(arch: &Architecture, opt: &Optimizer, batch: usize) -> u64 {
    let copies = 2 + opt.kind.state_arrays() as u64;
    let acts: u64 =
        arch.sizes.iter().map(|&s| s as u64).sum::<u64>() * 2 * batch.max(EVAL_BATCH) as u64;
    4 * (arch.param_count() as u64 * copies + acts)
}

/// Rows of a batch whose images are requested ahead of their conversion.
const PREFETCH_ROWS: usize = 4;

/// Hints the CPU to bring `bytes` into the cache (a no-op off x86-64).
#[inline(always)]
fn prefetch(row: Row<'_>) {
    let bytes: &[u8] = match row {
        Row::U8(v) => v,
        Row::F32(v) => bytemuck::cast_slice(v),
    };
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch only hints the cache; it never faults, and the address
        // is inside `bytes` anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr() as *const i8
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}
