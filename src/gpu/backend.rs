//! `GpuBackend`: training with every tensor resident on the GPU.
//!
//! Uploaded once: both data sets (u8 pixels packed four per u32), labels and the
//! initial parameters. Per epoch: the shuffled order (one write). Per step: only
//! recorded dispatches, submitted every `CHUNK_STEPS` steps. Read back: one small
//! metrics array per epoch and per evaluation, and the parameters on request.
//!
//! A step, as recorded by `record_forward_loss` and `record_backward_update`:
//!
//! ```text
//! gather            images[order[start..start+len]] → acts[0], labels
//! layer l = 0..L    acts[l] → acts[l+1]               (gpu/layer.rs: matmul + bias + act)
//! softmax_xent      acts[L] → dz[L−1], row loss/correct
//! batch_metrics     row loss/correct → metrics[slot]
//! layer l = L−1..0  dz[l] → grads (W_l, b_l), dz[l−1]
//! optimizer         params, grads → params (m, v)
//! ```

use std::sync::Arc;

use super::context::GpuContext;
use super::gather::GatherParams;
use super::kernel::{read_f32, storage_buffer, storage_buffer_init, Binding, Kernel, Recorder};
use super::layer::{DenseLayer, LayerBuffers};
use super::matmul::{MatmulKernels, MatmulVariant, OperandTexture};
use super::metrics::MetricsParams;
use super::optimizer::OptimizerParams;
use super::softmax_xent::LossParams;
use super::{dropout, gather, metrics, optimizer, reduce, softmax_xent};
use crate::backend::{
    argmax, batch_rows, check_batch, check_order, check_setup, Backend, Pending, TrainSetup,
    EVAL_BATCH,
};
use crate::choice::Choice;
use crate::data::{Dataset, Dtype, Split, SplitKind};
use crate::dropout::DropoutStep;
use crate::error::{Error, Result};
use crate::network::{Architecture, Loss};
use crate::optimizer::{Optimizer, OptimizerState};
use crate::profile::{Counters, KernelTime, Measured};
use crate::report::Totals;

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
    train: DeviceSplit,
    test: DeviceSplit,
    val: Option<DeviceSplit>,
    /// The epoch's shuffled order, read by the training split's gather.
    order: wgpu::Buffer,
    layers: Vec<DenseLayer>,
    head: LossHead,
    params: ParamBuffers,
    update: Binding,
    metrics: MetricSlots,
    /// Steps recorded in the current epoch (= its metric slots), and their examples.
    step_in_epoch: usize,
    epoch_samples: usize,
    /// Optimizer steps taken over the whole run (Adam's t).
    t: u64,
    /// Rows the activation buffers hold.
    max_batch: usize,
    /// The run's seed, for dropout masks.
    seed: u64,
}

/// Every pipeline a training step uses.
struct Kernels {
    matmul: MatmulKernels,
    dropout: (Kernel, Kernel),
    gather: Kernel,
    loss: Kernel,
    bias: Kernel,
    metrics: Kernel,
    update: Kernel,
}

impl Kernels {
    fn new(
        ctx: &GpuContext,
        variant: MatmulVariant,
        opt: &Optimizer,
        workers: Option<u32>,
    ) -> Result<Self> {
        let matmul = MatmulKernels::variant(ctx, variant)?;
        Ok(Kernels {
            matmul: match workers {
                Some(w) => matmul.with_workers(w),
                None => matmul,
            },
            gather: gather::kernel(ctx)?,
            dropout: dropout::kernels(ctx)?,
            loss: softmax_xent::kernel(ctx)?,
            bias: reduce::kernel(ctx)?,
            metrics: metrics::kernel(ctx)?,
            update: optimizer::kernel(ctx, opt.kind)?,
        })
    }
}

/// The per-batch buffers: acts[0] is the input batch, acts[l+1] layer l's output,
/// dz[l] the gradient at layer l's pre-activation output; the batch's labels and
/// each row's loss and correctness.
struct Activations {
    acts: Vec<wgpu::Buffer>,
    dz: Vec<wgpu::Buffer>,
    /// kept[l+1]: layer l's output after dropout, where it has dropout.
    kept: Vec<Option<wgpu::Buffer>>,
    labels: wgpu::Buffer,
    row_loss: wgpu::Buffer,
    row_correct: wgpu::Buffer,
}

impl Activations {
    fn new(ctx: &GpuContext, arch: &Architecture, rows: usize) -> Self {
        let buffer =
            |name: String, width: usize| storage_buffer(ctx, &name, f32_bytes(width * rows));
        Activations {
            acts: arch
                .sizes
                .iter()
                .enumerate()
                .map(|(l, &s)| buffer(format!("acts[{l}]"), s))
                .collect(),
            dz: arch.sizes[1..]
                .iter()
                .enumerate()
                .map(|(l, &s)| buffer(format!("dz[{l}]"), s))
                .collect(),
            kept: std::iter::once(None)
                .chain(arch.dense_layers().map(|l| {
                    let name = format!("kept[{}]", l.index + 1);
                    l.dropout.map(|_| buffer(name, l.outputs))
                }))
                .collect(),
            labels: buffer("batch labels".into(), 1),
            row_loss: buffer("row loss".into(), 1),
            row_correct: buffer("row correct".into(), 1),
        }
    }

    /// What layer `l` reads and writes.
    fn layer<'a>(&'a self, l: usize, params: &'a ParamBuffers) -> LayerBuffers<'a> {
        LayerBuffers {
            input: self.kept[l].as_ref().unwrap_or(&self.acts[l]),
            input_activation: &self.acts[l],
            output: &self.acts[l + 1],
            kept: self.kept[l + 1].as_ref(),
            output_grad: &self.dz[l],
            input_grad: l.checked_sub(1).map(|below| &self.dz[below]),
            params: &params.values,
            grads: &params.grads,
        }
    }
}

/// The parameters, their gradients and the optimizer's state, in the flat layout.
struct ParamBuffers {
    values: wgpu::Buffer,
    grads: wgpu::Buffer,
    /// Momentum's velocity / Adam's first moment, Adam's second moment (one float
    /// where unused: bindings cannot be empty).
    m: wgpu::Buffer,
    v: wgpu::Buffer,
}

impl ParamBuffers {
    fn new(ctx: &GpuContext, params: &[f32], opt: &Optimizer) -> Self {
        let state = OptimizerState::<f32>::new(opt.kind, params.len());
        ParamBuffers {
            values: storage_buffer_init(ctx, "params", bytemuck::cast_slice(params)),
            grads: storage_buffer(ctx, "grads", f32_bytes(params.len())),
            m: storage_buffer(ctx, "optimizer m", f32_bytes(state.m.len())),
            v: storage_buffer(ctx, "optimizer v", f32_bytes(state.v.len())),
        }
    }
}

/// One split on the device, its gather bound twice: through the shuffled order
/// (training) and in sequence (evaluation). A split larger than a storage binding
/// (or the planning budget, `GpuOptions::binding_budget`) is not resident but
/// streamed through a `Window`.
struct DeviceSplit {
    shuffled: Binding,
    sequential: Binding,
    len: usize,
    width: usize,
    floats: bool,
    stream: Option<Window>,
}

/// The part of a streamed split on the device: examples gathered on the host in
/// the order the steps take them, so that every batch, and every bit after it, is
/// what the resident path computes. The host gathers the next window while the
/// device trains on the current one; at most two are in flight.
struct Window {
    features: wgpu::Buffer,
    labels: wgpu::Buffer,
    /// Examples the window holds at most.
    capacity: usize,
    /// What it holds: (shuffled, first position, count).
    holds: Option<(bool, usize, usize)>,
    /// The epoch's order (training split), as the host knows it.
    order: Vec<u32>,
    /// The submission that read the previous window, waited for before the next
    /// fill (natively; a browser's queue bounds its own staging).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    in_flight: Option<wgpu::SubmissionIndex>,
}

/// What the splits share on the device: the gather kernel, the training order, a
/// 0, 1, 2, … sequence, the input statistics, the batch it fills.
struct SplitBindings<'a> {
    gather: &'a Kernel,
    order: &'a wgpu::Buffer,
    sequence: &'a wgpu::Buffer,
    norm: &'a wgpu::Buffer,
    batch: &'a Activations,
}

impl DeviceSplit {
    fn new(
        ctx: &GpuContext,
        rec: &Recorder,
        shared: &SplitBindings,
        (kind, split): (SplitKind, &Split),
        plan: &StoragePlan,
    ) -> Result<Self> {
        let name = format!("{kind:?}").to_lowercase();
        let row_bytes = split.width * split.features.dtype().size();
        let resident = plan.holds(split.features.bytes()) && plan.holds(4 * split.len() as u64);
        let (features, labels, stream) = if resident {
            let labels: Vec<u32> = split.labels.iter().map(|&l| l as u32).collect();
            let features =
                storage_buffer_init(ctx, &format!("{name} features"), split.features.raw_bytes());
            let labels = storage_buffer_init(
                ctx,
                &format!("{name} labels"),
                bytemuck::cast_slice(&labels),
            );
            (features, labels, None)
        } else {
            let capacity = plan.window_rows(row_bytes).min(split.len());
            if capacity < plan.batch_rows {
                return Err(Error::Gpu(format!(
                    "one batch of {} examples of {row_bytes} bytes (the larger of --batch-size and the \
                     evaluation batch of {EVAL_BATCH}) exceeds the {} bytes a storage binding may hold; use --cpu",
                    plan.batch_rows, plan.budget
                )));
            }
            let features = storage_buffer(
                ctx,
                &format!("{name} window"),
                (capacity * row_bytes) as u64,
            );
            let labels = storage_buffer(ctx, &format!("{name} window labels"), 4 * capacity as u64);
            log::info!(
                "the {name} split ({} bytes) exceeds the {} bytes planned per binding: streaming it {capacity} examples at a time",
                split.features.bytes(),
                plan.budget
            );
            let window = Window {
                features: features.clone(),
                labels: labels.clone(),
                capacity,
                holds: None,
                order: Vec::new(),
                in_flight: None,
            };
            (features, labels, Some(window))
        };
        let bind = |order: &wgpu::Buffer| {
            let b = shared.batch;
            shared.gather.bind(
                ctx,
                rec.arena(),
                &[
                    &features,
                    &labels,
                    order,
                    shared.norm,
                    &b.acts[0],
                    &b.labels,
                ],
            )
        };
        Ok(DeviceSplit {
            // A streamed split's window is always read in sequence.
            shuffled: bind(if stream.is_some() {
                shared.sequence
            } else {
                shared.order
            }),
            sequential: bind(shared.sequence),
            len: split.len(),
            width: split.width,
            floats: split.features.dtype() == Dtype::F32,
            stream,
        })
    }

    /// The training, test and (where there is one) validation splits.
    fn all(
        ctx: &GpuContext,
        rec: &Recorder,
        shared: &SplitBindings,
        data: &Dataset,
        plan: &StoragePlan,
    ) -> Result<(Self, Self, Option<Self>)> {
        let bind =
            |kind: SplitKind, split: &Split| Self::new(ctx, rec, shared, (kind, split), plan);
        let val = match &data.val {
            Some(v) => Some(bind(SplitKind::Val, v)?),
            None => None,
        };
        Ok((
            bind(SplitKind::Train, &data.train)?,
            bind(SplitKind::Test, &data.test)?,
            val,
        ))
    }

    /// A new epoch's order: a streamed split keeps it to gather windows by.
    fn begin_epoch(&mut self, order: &[u32]) {
        if let Some(w) = &mut self.stream {
            w.order.clear();
            w.order.extend_from_slice(order);
            w.holds = None;
        }
    }

    /// Gathers examples `start..start + len` (of the shuffled order, or in sequence)
    /// into the input batch and its labels; a streamed split first brings them into
    /// its window when they are not there.
    fn record_gather(
        &mut self,
        ctx: &GpuContext,
        rec: &mut Recorder,
        host: &Split,
        shuffled: bool,
        start: usize,
        len: usize,
    ) -> Result<()> {
        let (binding, first) = match &mut self.stream {
            None if shuffled => (&self.shuffled, 0),
            None => (&self.sequential, 0),
            Some(w) => {
                let first = match w.holds {
                    Some((s, first, count))
                        if s == shuffled && start >= first && start + len <= first + count =>
                    {
                        first
                    }
                    _ => w.fill(ctx, rec, host, shuffled, start)?,
                };
                (&self.sequential, first)
            }
        };
        let p = GatherParams::new(len, self.width, start - first, self.floats);
        rec.dispatch(ctx, binding, &p, p.workgroups());
        Ok(())
    }
}

impl Window {
    /// Uploads the examples at positions `start..` (up to the capacity) and
    /// returns `start`, the position of the window's first example.
    fn fill(
        &mut self,
        ctx: &GpuContext,
        rec: &mut Recorder,
        host: &Split,
        shuffled: bool,
        start: usize,
    ) -> Result<usize> {
        let count = self.capacity.min(host.len() - start);
        let positions: Vec<u32> = if shuffled {
            self.order[start..start + count].to_vec()
        } else {
            (start as u32..(start + count) as u32).collect()
        };
        // Recorded work reads the window as it is now: it goes out first. Then wait
        // for the work before it, so that at most two windows are in flight.
        let submitted = rec.submit(ctx);
        // In a browser the queue's own staging bounds this, and nothing may wait.
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(previous) = self.in_flight.replace(submitted) {
            ctx.wait_for(previous)?;
        }
        #[cfg(target_arch = "wasm32")]
        let _ = submitted;
        let part = host.select(&positions);
        let mut bytes = part.features.raw_bytes().to_vec();
        bytes.resize(bytes.len().next_multiple_of(4), 0);
        ctx.queue.write_buffer(&self.features, 0, &bytes);
        let labels: Vec<u32> = part.labels.iter().map(|&l| l as u32).collect();
        ctx.queue
            .write_buffer(&self.labels, 0, bytemuck::cast_slice(&labels));
        self.holds = Some((shuffled, start, count));
        Ok(start)
    }
}

/// How much the backend puts in one storage binding: the device's limit, or less
/// when the caller plans with a smaller budget (to test streaming with small data).
struct StoragePlan {
    budget: u64,
    /// Rows of the largest batch, which a window must hold at least.
    batch_rows: usize,
}

impl StoragePlan {
    fn new(ctx: &GpuContext, options: &GpuOptions, batch_rows: usize) -> Self {
        let lim = &ctx.limits;
        let device = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
        let budget = options.binding_budget.map_or(device, |b| b.min(device));
        StoragePlan { budget, batch_rows }
    }

    /// Whether `bytes` may stay resident in one binding (the gather's u32 element
    /// indices bound it too).
    fn holds(&self, bytes: u64) -> bool {
        bytes <= self.budget && bytes <= u32::MAX as u64
    }

    /// Examples of `row_bytes` per window: what one submit's steps take, within
    /// the budget, so that streaming adds about one upload per submit.
    fn window_rows(&self, row_bytes: usize) -> usize {
        let fit = (self.budget / row_bytes.max(1) as u64).min(u32::MAX as u64) as usize;
        fit.min(CHUNK_STEPS * self.batch_rows)
    }
}

/// Softmax + loss + its gradient at the logits, then the batch's loss and correct
/// count summed into a metric slot.
struct LossHead {
    /// The last layer's output (batch×classes), read back only by `predictions`.
    logits: wgpu::Buffer,
    loss: Binding,
    batch_metrics: Binding,
    kind: Loss,
    classes: usize,
}

impl LossHead {
    fn new(
        ctx: &GpuContext,
        arena: &wgpu::Buffer,
        kernels: &Kernels,
        batch: &Activations,
        metrics: &MetricSlots,
        arch: &Architecture,
    ) -> Self {
        let last = arch.layers();
        let (logits, dlogits) = (&batch.acts[last], &batch.dz[last - 1]);
        let (rows_loss, rows_correct) = (&batch.row_loss, &batch.row_correct);
        LossHead {
            logits: logits.clone(),
            loss: kernels.loss.bind(
                ctx,
                arena,
                &[logits, &batch.labels, dlogits, rows_loss, rows_correct],
            ),
            batch_metrics: kernels.metrics.bind(
                ctx,
                arena,
                &[rows_loss, rows_correct, &metrics.slots],
            ),
            kind: arch.loss,
            classes: arch.classes(),
        }
    }

    fn record(&self, ctx: &GpuContext, rec: &mut Recorder, len: usize, slot: usize) {
        let p = LossParams::new(len, self.classes, self.kind, len);
        rec.dispatch(ctx, &self.loss, &p, p.workgroups());
        let p = MetricsParams::new(len, slot);
        rec.dispatch(ctx, &self.batch_metrics, &p, [1, 1, 1]);
    }
}

/// One (loss sum, correct count) slot per step or evaluation batch, and its
/// mappable copy, filled by the same submit as an epoch's last steps.
struct MetricSlots {
    slots: wgpu::Buffer,
    staging: wgpu::Buffer,
}

impl MetricSlots {
    /// Sized for batches of one, so that no caller can overrun it (8 bytes an example).
    fn new(ctx: &GpuContext, data: &Dataset) -> Self {
        let slots = data.train.len().max(data.test.len().div_ceil(EVAL_BATCH));
        MetricSlots {
            slots: storage_buffer(ctx, "metrics", f32_bytes(2 * slots)),
            staging: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("metrics read-back"),
                size: f32_bytes(2 * slots).max(4),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        }
    }
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
        // A batch never holds more than the training set, whatever the caller asked for.
        let (batch_size, max_batch) = batch_rows(batch_size, data.train.len());
        let variant = choose_variant(&ctx, &arch, max_batch, options.matmul);
        check_limits(&ctx, &data, &arch, batch_size, max_batch, variant)?;
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let kernels = Kernels::new(&ctx, variant, &opt, options.workers)?;
        let batch = Activations::new(&ctx, &arch, max_batch);
        let param_buffers = ParamBuffers::new(&ctx, &params, &opt);
        // Per layer: 3 products, the bias gradient, 3 packs (texture variant) and
        // 2 dropouts.
        let rec = Recorder::new(&ctx, CHUNK_STEPS * (9 * arch.layers() + 3));
        let arena = rec.arena();
        let layers = arch
            .dense_layers()
            .map(|spec| {
                let bufs = batch.layer(spec.index, &param_buffers);
                let (matmul, bias, dropout) = (&kernels.matmul, &kernels.bias, &kernels.dropout);
                DenseLayer::new(&ctx, arena, matmul, bias, dropout, spec, &bufs, max_batch)
            })
            .collect();
        let order = storage_buffer(&ctx, "order", f32_bytes(data.train.len()));
        let longest = data.splits().map(|(_, s)| s.len()).max().unwrap_or(0);
        let sequence: Vec<u32> = (0..longest as u32).collect();
        let sequence = storage_buffer_init(&ctx, "sequence", bytemuck::cast_slice(&sequence));
        let norm = [input.shift.as_slice(), input.scale.as_slice()].concat();
        let norm = storage_buffer_init(&ctx, "input statistics", bytemuck::cast_slice(&norm));
        let shared = SplitBindings {
            gather: &kernels.gather,
            order: &order,
            sequence: &sequence,
            norm: &norm,
            batch: &batch,
        };
        let plan = StoragePlan::new(&ctx, options, max_batch);
        let (train, test, val) = DeviceSplit::all(&ctx, &rec, &shared, &data, &plan)?;
        let metrics = MetricSlots::new(&ctx, &data);
        let head = LossHead::new(&ctx, arena, &kernels, &batch, &metrics, &arch);
        let p = &param_buffers;
        let update = kernels
            .update
            .bind(&ctx, arena, &[&p.values, &p.grads, &p.m, &p.v]);
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
            train,
            test,
            val,
            order,
            layers,
            head,
            params: param_buffers,
            update,
            metrics,
            step_in_epoch: 0,
            epoch_samples: 0,
            t: 0,
            max_batch,
            seed,
            rec,
            ctx,
        })
    }

    fn split(&self, kind: SplitKind) -> &DeviceSplit {
        match kind {
            SplitKind::Train => &self.train,
            SplitKind::Test => &self.test,
            SplitKind::Val => self.val.as_ref().unwrap_or(&self.test),
        }
    }

    /// Records gather, every layer's forward, the loss (gradient averaged over `len`)
    /// and the metric sum into `slot` for one batch.
    fn record_forward_loss(
        &mut self,
        kind: SplitKind,
        shuffled: bool,
        start: usize,
        len: usize,
        slot: usize,
    ) -> Result<()> {
        // Training batches (shuffled) run the step's dropout; evaluation none.
        let step = shuffled.then_some(self.dropout_step());
        let host = self.data.split(kind);
        let split = match kind {
            SplitKind::Train => &mut self.train,
            SplitKind::Test => &mut self.test,
            SplitKind::Val => self.val.as_mut().unwrap_or(&mut self.test),
        };
        let (ctx, rec) = (&self.ctx, &mut self.rec);
        split.record_gather(ctx, rec, host, shuffled, start, len)?;
        for layer in &self.layers {
            layer.record_forward(ctx, rec, len, step);
        }
        self.head.record(ctx, rec, len, slot);
        Ok(())
    }

    /// Records every layer's backward, last layer first, then the optimizer step.
    fn record_backward_update(&mut self, len: usize) {
        let step = self.dropout_step();
        let (ctx, rec) = (&self.ctx, &mut self.rec);
        for layer in self.layers.iter().rev() {
            layer.record_backward(ctx, rec, len, step);
        }
        self.t += 1;
        let p = OptimizerParams::new(&self.opt, self.arch.param_count(), self.t);
        rec.dispatch(ctx, &self.update, &p, p.workgroups());
    }

    /// The dropout step of the optimizer step being recorded (its count after the update).
    fn dropout_step(&self) -> DropoutStep {
        DropoutStep {
            seed: self.seed,
            step: (self.t + 1) as u32,
        }
    }

    /// Submits what is recorded, then reads and adds the first `slots` metric slots
    /// in order, in f64 (a fixed order: the same bits every run).
    async fn collect_metrics(&mut self, slots: usize, count: usize) -> Result<Totals> {
        let bytes = (8 * slots) as u64;
        let MetricSlots {
            slots: metrics,
            staging,
        } = &self.metrics;
        self.rec.submit_with(&self.ctx, |enc| {
            enc.copy_buffer_to_buffer(metrics, 0, staging, 0, bytes)
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
        check_order(order, self.train.len)?;
        if !self.rec.is_empty() {
            self.rec.submit(&self.ctx);
        }
        // Applied by the queue before the epoch's first submit.
        self.ctx
            .queue
            .write_buffer(&self.order, 0, bytemuck::cast_slice(order));
        self.train.begin_epoch(order);
        self.step_in_epoch = 0;
        self.epoch_samples = 0;
        self.ctx.check()
    }

    fn train_batch(&mut self, start: usize, len: usize) -> Result<()> {
        check_batch(start, len, self.max_batch, self.train.len)?;
        let slot = self.step_in_epoch;
        // Submit full chunks lazily, when the next step arrives, so that the epoch's
        // last chunk always goes out with its metrics copy: ceil(steps / 64) submits.
        if slot > 0 && slot.is_multiple_of(CHUNK_STEPS) {
            self.rec.submit(&self.ctx);
        }
        self.record_forward_loss(SplitKind::Train, true, start, len, slot)?;
        self.record_backward_update(len);
        self.step_in_epoch += 1;
        self.epoch_samples += len;
        Ok(())
    }

    fn end_epoch_async(&mut self) -> Pending<'_, Totals> {
        let (steps, samples) = (self.step_in_epoch, self.epoch_samples);
        Box::pin(self.collect_metrics(steps, samples))
    }

    fn evaluate_async(&mut self, split: SplitKind) -> Pending<'_, Totals> {
        Box::pin(async move {
            let n = self.split(split).len;
            let mut slots = 0;
            for start in (0..n).step_by(EVAL_BATCH) {
                let len = EVAL_BATCH.min(n - start);
                self.record_forward_loss(split, false, start, len, slots)?;
                slots += 1;
            }
            self.collect_metrics(slots, n).await
        })
    }

    fn predictions_async(&mut self, split: SplitKind) -> Pending<'_, Vec<u8>> {
        Box::pin(async move {
            let n = self.split(split).len;
            let classes = self.arch.classes();
            let mut out = Vec::with_capacity(n);
            // Evaluation only: one read-back of the logits per batch is fine here.
            for start in (0..n).step_by(EVAL_BATCH) {
                let len = EVAL_BATCH.min(n - start);
                self.record_forward_loss(split, false, start, len, 0)?;
                self.rec.submit(&self.ctx);
                let logits = read_f32(&self.ctx, &self.head.logits, len * classes).await?;
                out.extend(logits.chunks_exact(classes).map(|z| argmax(z) as u8));
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

fn f32_bytes(n: usize) -> u64 {
    (n * 4) as u64
}

/// The caller's variant, else the adapter's: textures on CPU adapters unless an
/// operand exceeds the largest texture, then the blocked kernel.
fn choose_variant(
    ctx: &GpuContext,
    arch: &Architecture,
    max_batch: usize,
    chosen: Option<MatmulVariant>,
) -> MatmulVariant {
    if let Some(v) = chosen {
        return v;
    }
    let variant = MatmulVariant::for_adapter(&ctx.info);
    if variant == MatmulVariant::Texture && !textures_fit(ctx, arch, max_batch) {
        log::info!(
            "the network's operands exceed {}'s largest texture ({} texels): using the blocked matmul",
            ctx.info.name,
            ctx.limits.max_texture_dimension_2d
        );
        return MatmulVariant::Blocked;
    }
    variant
}

fn log_sizes(data: &Dataset, arch: &Architecture, opt: &Optimizer, max_batch: usize) {
    log::debug!(
        "GPU data: train features {} B, test features {} B, parameters {} B (×{} with gradients and optimizer state), \
         activations {} B per layer at most",
        data.train.features.bytes(),
        data.test.features.bytes(),
        4 * arch.param_count(),
        2 + opt.kind.state_arrays(),
        4 * arch.widest() * max_batch,
    );
}

/// Fails early, naming the limit, when the data or network does not fit the device.
fn check_limits(
    ctx: &GpuContext,
    data: &Dataset,
    arch: &Architecture,
    batch_size: usize,
    max_batch: usize,
    variant: MatmulVariant,
) -> Result<()> {
    let lim = &ctx.limits;
    let binding = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
    let fits = |what: String, bytes: u64| -> Result<()> {
        if bytes > binding {
            return Err(Error::Gpu(format!(
                "{what} takes {bytes} bytes, but {} binds at most {binding} bytes per storage buffer \
                 (max_storage_buffer_binding_size / max_buffer_size); use --train-limit, a smaller \
                 --batch-size or network, or --cpu",
                ctx.info.name
            )));
        }
        Ok(())
    };
    fits("the parameters".into(), arch.param_count() as u64 * 4)?;
    fits(
        format!(
            "a batch of {max_batch} activations of the widest layer ({})",
            arch.widest()
        ),
        (arch.widest() * max_batch) as u64 * 4,
    )?;
    // Example indices are u32 in the shader, and so are the sequence and order.
    fits("the training order".into(), 4 * data.train.len() as u64)?;
    let max_groups = lim.max_compute_workgroups_per_dimension as usize;
    if batch_size > max_groups {
        return Err(Error::Gpu(format!(
            "--batch-size {batch_size} exceeds what {} dispatches in one dimension ({max_groups}); use a smaller batch",
            ctx.info.name
        )));
    }
    if variant == MatmulVariant::Texture && !textures_fit(ctx, arch, max_batch) {
        return Err(Error::Gpu(format!(
            "GPU_MLP_MATMUL=texture keeps every layer's inputs, weights and gradients in textures, \
             here up to {} rows (the batch, or a layer's inputs) and {} texels wide (a quarter of the \
             widest layer), but {} allows {} per side (max_texture_dimension_2d); use a smaller \
             --batch-size or network, or GPU_MLP_MATMUL=blocked",
            max_batch.max(arch.sizes[..arch.layers()].iter().copied().max().unwrap_or(0)),
            arch.widest().div_ceil(4),
            ctx.info.name,
            lim.max_texture_dimension_2d
        )));
    }
    let shared = 2048.max(variant.workgroup_bytes());
    if lim.max_storage_buffers_per_shader_stage < 6
        || lim.max_compute_invocations_per_workgroup < 256
        || lim.max_compute_workgroup_storage_size < shared
    {
        return Err(Error::Gpu(format!(
            "{} offers too little for the kernels (needs 6 storage buffers per stage, 256 invocations \
             and {shared} bytes of workgroup memory per workgroup); use --cpu",
            ctx.info.name
        )));
    }
    Ok(())
}

/// Whether every operand texture of the texture matmul fits the adapter: activations
/// and their gradients (batch × width) and the weights (in × out) of each layer.
fn textures_fit(ctx: &GpuContext, arch: &Architecture, max_batch: usize) -> bool {
    arch.dense_layers().all(|l| {
        let (k, n) = (l.inputs, l.outputs);
        OperandTexture::fits(ctx, max_batch, k)
            && OperandTexture::fits(ctx, max_batch, n)
            && OperandTexture::fits(ctx, k, n)
    })
}
