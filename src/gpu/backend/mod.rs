//! `GpuBackend`: training with every tensor resident on the GPU.
//!
//! Uploaded once: both data sets (u8 pixels packed four per u32), labels and the
//! initial parameters. Per epoch: the shuffled order (one write). Per step: only
//! recorded dispatches, submitted every `CHUNK_STEPS` steps. Read back: one small
//! array of batch totals per epoch and per evaluation, and the parameters on request.
//!
//! A training step ([`GpuBackend`]'s `train_batch`) records five named stages,
//! each a method below with the buffers it binds named where they were bound:
//!
//! ```text
//! record_gather     features[order[start..start+len]] → acts[0], labels   (residency.rs)
//! record_forward    layer l = 0..L: acts[l] → acts[l+1]   (gpu/layer.rs: matmul + bias + act, dropout)
//! record_loss       acts[L] → dz[L−1], row loss/correct → totals[slot]     (head.rs)
//! record_backward   layer l = L−1..0: dz[l] → grads (W_l, b_l), dz[l−1]
//! record_update     params, grads → params (m, v)
//! ```
//!
//! They go out together in one submit per `CHUNK_STEPS` steps: the seams are in
//! the code, not in the GPU's timeline. `buffers.rs` makes the device state,
//! `limits.rs` checks it fits the adapter first.

mod buffers;
mod head;
mod limits;
mod residency;

use std::sync::Arc;

use super::context::GpuContext;
use super::kernel::{read_f32, storage_buffer, storage_buffer_init, Binding, Recorder};
use super::layer::DenseLayer;
use super::matmul::MatmulVariant;
use super::optimizer::OptimizerParams;
use crate::backend::{
    batch_rows, check_batch, check_order, check_setup, Backend, Pending, TrainSetup, EVAL_BATCH,
};
use crate::choice::Choice;
use crate::data::normalize::InputTransform;
use crate::data::{Dataset, SplitKind};
use crate::dropout::DropoutStep;
use crate::error::{Error, Result};
use crate::network::Architecture;
use crate::optimizer::{Optimizer, OptimizerState};
use crate::profile::{Counters, KernelTime, Measured};
use crate::report::Totals;
use buffers::{f32_bytes, Activations, Kernels, ParamBuffers, TotalSlots};
use head::LossHead;
use limits::{check_limits, choose_variant, log_sizes};
use residency::{DeviceSplit, DeviceSplits, SplitBindings, StoragePlan};

/// Training steps recorded per submit: few submits (host overhead), yet the GPU
/// starts working long before the epoch has been recorded.
pub const CHUNK_STEPS: usize = 64;

/// Choices a caller may make about the GPU path (the command line fills them from
/// `GPU_MLP_MATMUL` and `LP_NUM_THREADS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuOptions {
    /// The matmul variant; None picks one for the adapter (`MatmulVariant::for_adapter`),
    /// falling back from textures to the blocked kernel when the operands do not fit.
    pub matmul: Option<MatmulVariant>,
    /// Workgroups the adapter runs at once, which decides the matmul tile per shape;
    /// None uses `matmul::parallel_workers`.
    pub workers: Option<u32>,
    /// Plan with at most this many bytes per storage binding (below the device's
    /// limit): a split larger than that is streamed. None uses the device's limit.
    pub binding_budget: Option<u64>,
}

pub struct GpuBackend {
    ctx: GpuContext,
    /// The host's copy of the data, which streamed splits gather windows from.
    data: Arc<Dataset>,
    arch: Architecture,
    opt: Optimizer,
    rec: Recorder,
    variant: MatmulVariant,
    splits: DeviceSplits,
    /// The epoch's shuffled order, read by the training split's gather.
    order: wgpu::Buffer,
    layers: Vec<DenseLayer>,
    head: LossHead,
    params: ParamBuffers,
    update: Binding,
    totals: TotalSlots,
    /// Steps recorded in the current epoch (= its totals slots), and their examples.
    step_in_epoch: usize,
    epoch_samples: usize,
    /// Optimizer steps taken over the whole run (Adam's t).
    t: u64,
    /// Rows the activation buffers hold.
    max_batch: usize,
    /// The run's seed, for dropout masks.
    seed: u64,
}

/// Fails, naming the limit, where a network `arch` training on `data` in batches
/// of `batch_size` does not fit `ctx`'s device: checked before its parameters are
/// drawn, so that a network too large for the device costs no host memory.
pub fn check_fits(
    ctx: &GpuContext,
    data: &Dataset,
    arch: &Architecture,
    batch_size: usize,
    options: &GpuOptions,
) -> Result<()> {
    fitted(ctx, data, arch, batch_size, options).map(|_| ())
}

/// The matmul variant and the largest batch (training or evaluation) of a run
/// that fits the device.
fn fitted(
    ctx: &GpuContext,
    data: &Dataset,
    arch: &Architecture,
    batch_size: usize,
    options: &GpuOptions,
) -> Result<(MatmulVariant, usize)> {
    // A batch never holds more than the training set, whatever the caller asked for.
    let (batch_size, max_batch) = batch_rows(batch_size, data.train.len());
    let variant = choose_variant(ctx, arch, max_batch, options.matmul);
    check_limits(ctx, data, arch, batch_size, max_batch, variant)?;
    Ok((variant, max_batch))
}

impl GpuBackend {
    /// A backend with the options' defaults: the matmul variant chosen for the adapter.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(ctx: GpuContext, data: Arc<Dataset>, setup: TrainSetup) -> Result<Self> {
        Self::with_options(ctx, data, setup, &GpuOptions::default())
    }

    /// A backend with `options`, its pipelines built and its data uploaded.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn with_options(
        ctx: GpuContext,
        data: Arc<Dataset>,
        setup: TrainSetup,
        options: &GpuOptions,
    ) -> Result<Self> {
        pollster::block_on(Self::open(ctx, data, setup, options))
    }

    /// `with_options`, awaiting the device's verdict on the setup (as a browser requires).
    pub async fn open(
        ctx: GpuContext,
        data: Arc<Dataset>,
        setup: TrainSetup,
        options: &GpuOptions,
    ) -> Result<Self> {
        check_setup(&setup, &data)?;
        let TrainSetup {
            arch,
            opt,
            params,
            batch_size,
            seed,
            input,
        } = setup;
        let (variant, max_batch) = fitted(&ctx, &data, &arch, batch_size, options)?;
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let kernels = Kernels::new(&ctx, variant, &opt, options.workers, arch.task().kernel())?;
        // The training split's words are the widest: its targets and its weights.
        let stride = data.train.targets.width() + data.train.weights.is_some() as usize;
        let batch = Activations::new(&ctx, &arch, max_batch, stride);
        let param_buffers = ParamBuffers::new(&ctx, &params, &opt);
        // Per layer: 3 products, the bias gradient, 3 packs (texture variant) and
        // 2 dropouts.
        let rec = Recorder::new(&ctx, CHUNK_STEPS * (9 * arch.layers() + 3));
        let arena = rec.arena();
        let layers = bind_layers(
            &ctx,
            arena,
            &kernels,
            &arch,
            &batch,
            &param_buffers,
            max_batch,
        );
        let plan = StoragePlan::new(&ctx, options, max_batch);
        let (order, splits) =
            upload_splits(&ctx, &rec, &kernels, &data, &input, (&batch, &arch), &plan)?;
        let totals = TotalSlots::new(&ctx, &data);
        let head = LossHead::new(&ctx, arena, &kernels, &batch, &totals, &arch);
        let update = param_buffers.bind_update(&kernels.update, &ctx, arena);
        log_sizes(&data, &arch, &opt, max_batch);
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu(format!("setting up on {}: {e}", ctx.info.name)));
        }
        ctx.settle().await?;
        Ok(GpuBackend {
            data,
            arch,
            opt,
            variant,
            splits,
            order,
            layers,
            head,
            params: param_buffers,
            update,
            totals,
            step_in_epoch: 0,
            epoch_samples: 0,
            t: 0,
            max_batch,
            seed,
            rec,
            ctx,
        })
    }

    /// The device split that stands for `kind`.
    fn split(&mut self, kind: SplitKind) -> &mut DeviceSplit {
        self.splits.get(&self.data, kind)
    }

    /// Gathers examples `start..start + len` of a split into the input batch: in
    /// the epoch's shuffled order (training) or in sequence (evaluation).
    fn record_gather(
        &mut self,
        kind: SplitKind,
        shuffled: bool,
        start: usize,
        len: usize,
    ) -> Result<()> {
        let host = self.data.split(kind);
        let split = self.splits.get(&self.data, kind);
        split.record_gather(&self.ctx, &mut self.rec, host, shuffled, start, len)
    }

    /// Every layer's forward pass, first layer first; with the step's dropout
    /// while training (`step`), without when evaluating.
    fn record_forward(&mut self, len: usize, step: Option<DropoutStep>) {
        for layer in &self.layers {
            layer.record_forward(&self.ctx, &mut self.rec, len, step);
        }
    }

    /// The loss head on a batch of `kind`: the loss and its gradient at the
    /// outputs (averaged over `len`), and the batch's sums into totals slot `slot`.
    /// Only a training step reads the weights: evaluation figures are never weighted.
    fn record_loss(&mut self, kind: SplitKind, len: usize, slot: usize, training: bool) {
        let (stride, weighted) = self.splits.get(&self.data, kind).target_layout();
        let layout = (stride, weighted && training);
        self.head
            .record(&self.ctx, &mut self.rec, len, layout, slot);
    }

    /// Every layer's backward pass, last layer first, through the step's dropout masks.
    fn record_backward(&mut self, len: usize, step: DropoutStep) {
        for layer in self.layers.iter().rev() {
            layer.record_backward(&self.ctx, &mut self.rec, len, step);
        }
    }

    /// The optimizer step: the parameters (and its state) from the gradients.
    fn record_update(&mut self) {
        self.t += 1;
        let p = OptimizerParams::new(&self.opt, self.arch.param_count(), self.t);
        self.rec
            .dispatch(&self.ctx, &self.update, &p, p.workgroups());
    }

    /// Records a forward pass and the loss head of one evaluation batch, its sums
    /// into totals slot `slot`.
    fn record_evaluation(
        &mut self,
        split: SplitKind,
        start: usize,
        len: usize,
        slot: usize,
    ) -> Result<()> {
        self.record_gather(split, false, start, len)?;
        self.record_forward(len, None);
        self.record_loss(split, len, slot, false);
        Ok(())
    }

    /// The dropout step of the optimizer step being recorded (its count after the update).
    fn dropout_step(&self) -> DropoutStep {
        DropoutStep::next(self.seed, self.t)
    }

    /// Submits what is recorded, then reads and adds the first `slots` totals slots
    /// in order, in f64 (a fixed order: the same bits every run).
    async fn collect_totals(&mut self, slots: usize, count: usize) -> Result<Totals> {
        let bytes = (8 * slots) as u64;
        let TotalSlots {
            slots: totals,
            staging,
        } = &self.totals;
        self.rec.submit_with(&self.ctx, |enc| {
            enc.copy_buffer_to_buffer(totals, 0, staging, 0, bytes)
        });
        let m: Vec<f32> =
            bytemuck::pod_collect_to_vec(&self.ctx.map_and_read(staging, bytes).await?);
        let mut totals = Totals::default();
        for s in m.chunks_exact(2) {
            totals.loss_sum += s[0] as f64;
            totals.correct += s[1] as u64;
        }
        totals.count = count as u64;
        Ok(totals)
    }
}

impl Backend for GpuBackend {
    fn describe(&self) -> String {
        // The adapter's name and API; the driver is logged (RUST_LOG=info).
        let info = &self.ctx.info;
        // A browser may keep the adapter's name to itself.
        let name = match info.name.is_empty() {
            true => "WebGPU adapter",
            false => info.name.as_str(),
        };
        format!(
            "{name} ({:?}), {} matmul",
            info.backend,
            self.variant.name()
        )
    }

    fn begin_epoch(&mut self, order: &[u32]) -> Result<()> {
        check_order(order, self.splits.train.len)?;
        if !self.rec.is_empty() {
            self.rec.submit(&self.ctx);
        }
        // Applied by the queue before the epoch's first submit.
        self.ctx
            .queue
            .write_buffer(&self.order, 0, bytemuck::cast_slice(order));
        self.splits.train.begin_epoch(order);
        self.step_in_epoch = 0;
        self.epoch_samples = 0;
        self.ctx.check()
    }

    fn train_batch(&mut self, start: usize, len: usize) -> Result<()> {
        check_batch(start, len, self.max_batch, self.splits.train.len)?;
        let slot = self.step_in_epoch;
        // Submit full chunks lazily, when the next step arrives, so that the epoch's
        // last chunk always goes out with its totals copy: ceil(steps / 64) submits.
        if slot > 0 && slot.is_multiple_of(CHUNK_STEPS) {
            self.rec.submit(&self.ctx);
        }
        let step = self.dropout_step();
        self.record_gather(SplitKind::Train, true, start, len)?;
        self.record_forward(len, Some(step));
        self.record_loss(SplitKind::Train, len, slot, true);
        self.record_backward(len, step);
        self.record_update();
        self.step_in_epoch += 1;
        self.epoch_samples += len;
        Ok(())
    }

    fn end_epoch_async(&mut self) -> Pending<'_, Totals> {
        let (steps, samples) = (self.step_in_epoch, self.epoch_samples);
        Box::pin(self.collect_totals(steps, samples))
    }

    fn evaluate_async(&mut self, split: SplitKind) -> Pending<'_, Totals> {
        Box::pin(async move {
            let n = self.split(split).len;
            let mut slots = 0;
            for start in (0..n).step_by(EVAL_BATCH) {
                let len = EVAL_BATCH.min(n - start);
                self.record_evaluation(split, start, len, slots)?;
                slots += 1;
            }
            self.collect_totals(slots, n).await
        })
    }

    fn outputs_async(&mut self, split: SplitKind) -> Pending<'_, Vec<f32>> {
        Box::pin(async move {
            let n = self.split(split).len;
            let outputs = self.arch.outputs();
            let mut out = Vec::with_capacity(n * outputs);
            // Evaluation only: one read-back of the outputs per batch is fine here.
            for start in (0..n).step_by(EVAL_BATCH) {
                let len = EVAL_BATCH.min(n - start);
                self.record_evaluation(split, start, len, 0)?;
                self.rec.submit(&self.ctx);
                out.extend(read_f32(&self.ctx, &self.head.logits, len * outputs).await?);
            }
            Ok(out)
        })
    }

    fn parameters_async(&mut self) -> Pending<'_, Vec<f32>> {
        Box::pin(async move {
            self.rec.submit(&self.ctx);
            read_f32(&self.ctx, &self.params.values, self.arch.param_count()).await
        })
    }

    fn set_learning_rate(&mut self, lr: f32) {
        // Recorded into the next steps' parameters: no device work, no read-back.
        self.opt.lr = lr;
    }

    fn set_parameters(&mut self, params: &[f32]) -> Result<()> {
        if params.len() != self.arch.param_count() {
            return Err(Error::Usage(format!(
                "{} parameters for a network of {}",
                params.len(),
                self.arch.param_count()
            )));
        }
        self.rec.submit(&self.ctx);
        let values = &self.params.values;
        self.ctx
            .queue
            .write_buffer(values, 0, bytemuck::cast_slice(params));
        Ok(())
    }

    fn optimizer_state_async(&mut self) -> Pending<'_, OptimizerState<f32>> {
        Box::pin(async move {
            self.rec.submit(&self.ctx);
            let mut state = OptimizerState::new(self.opt.kind, self.arch.param_count());
            if !state.m.is_empty() {
                state.m = read_f32(&self.ctx, &self.params.m, state.m.len()).await?;
            }
            if !state.v.is_empty() {
                state.v = read_f32(&self.ctx, &self.params.v, state.v.len()).await?;
            }
            state.t = self.t;
            Ok(state)
        })
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState<f32>) -> Result<()> {
        state.check_fits(self.opt.kind, self.arch.param_count())?;
        self.rec.submit(&self.ctx);
        for (buffer, values) in [(&self.params.m, &state.m), (&self.params.v, &state.v)] {
            if !values.is_empty() {
                self.ctx
                    .queue
                    .write_buffer(buffer, 0, bytemuck::cast_slice(values));
            }
        }
        self.t = state.t;
        Ok(())
    }
}

impl Measured for GpuBackend {
    fn counters(&self) -> Counters {
        Counters {
            submits: self.ctx.submits(),
            readbacks: self.ctx.readbacks(),
            record_seconds: self.rec.record_seconds,
            submit_seconds: self.rec.submit_seconds,
        }
    }

    fn enable_profiling(&mut self) -> bool {
        self.rec.enable_profiling(&self.ctx)
    }

    fn profile(&self) -> Vec<(&'static str, KernelTime)> {
        self.rec
            .profile()
            .map(|p| p.iter().map(|(&k, &v)| (k, v)).collect())
            .unwrap_or_default()
    }
}

/// Every layer's products bound to the batch's buffers and the parameters.
fn bind_layers(
    ctx: &GpuContext,
    arena: &wgpu::Buffer,
    kernels: &Kernels,
    arch: &Architecture,
    batch: &Activations,
    params: &ParamBuffers,
    max_batch: usize,
) -> Vec<DenseLayer> {
    let (matmul, bias, dropout) = (&kernels.matmul, &kernels.bias, &kernels.dropout);
    arch.dense_layers()
        .map(|spec| {
            let bufs = batch.layer(spec.index, params);
            DenseLayer::new(ctx, arena, matmul, bias, dropout, spec, &bufs, max_batch)
        })
        .collect()
}

/// Uploads the splits (resident, or streamed where one exceeds a binding) with
/// their gathers bound: the epoch's order buffer and the splits.
fn upload_splits(
    ctx: &GpuContext,
    rec: &Recorder,
    kernels: &Kernels,
    data: &Dataset,
    input: &InputTransform,
    (batch, arch): (&Activations, &Architecture),
    plan: &StoragePlan,
) -> Result<(wgpu::Buffer, DeviceSplits)> {
    let order = storage_buffer(ctx, "order", f32_bytes(data.train.len()));
    let longest = data.splits().map(|(_, s)| s.len()).max().unwrap_or(0);
    let sequence: Vec<u32> = (0..longest as u32).collect();
    let sequence = storage_buffer_init(ctx, "sequence", bytemuck::cast_slice(&sequence));
    let norm = [input.shift.as_slice(), input.scale.as_slice()].concat();
    let norm = storage_buffer_init(ctx, "input statistics", bytemuck::cast_slice(&norm));
    let shared = SplitBindings {
        gather: &kernels.gather,
        order: &order,
        sequence: &sequence,
        norm: &norm,
        batch,
        head: &arch.head,
    };
    let splits = DeviceSplits::upload(ctx, rec, &shared, data, plan)?;
    Ok((order, splits))
}
