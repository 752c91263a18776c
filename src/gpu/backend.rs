//! `GpuBackend`: training with every tensor resident on the GPU.
//!
//! Uploaded once: both data sets (u8 pixels packed four per u32), labels and the
//! initial parameters. Per epoch: the shuffled order (one write). Per step: only
//! recorded dispatches, submitted every `CHUNK_STEPS` steps. Read back: one small
//! metrics array per epoch and per evaluation, and the parameters on request.

use std::sync::Arc;

use super::context::GpuContext;
use super::gather::GatherParams;
use super::kernel::{read_f32, storage_buffer, storage_buffer_init, Binding, Kernel, Recorder};
use super::matmul::{
    BoundProduct, MatmulKernels, MatmulParams, MatmulVariant, OperandTexture, PackParams, Product,
};
use super::metrics::MetricsParams;
use super::optimizer::OptimizerParams;
use super::reduce::ReduceParams;
use super::softmax_xent::LossParams;
use super::{gather, metrics, optimizer, reduce, softmax_xent};
use crate::cpu::optimizer::OptimizerState;
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::model::{Architecture, Optimizer, OptimizerKind};
use crate::train::{argmax, Backend, Counters, KernelTime, SplitKind, Totals, EVAL_BATCH};

/// Training steps recorded per submit: few submits (host overhead), yet the GPU
/// starts working long before the epoch has been recorded.
pub const CHUNK_STEPS: usize = 64;

/// Kernels bound to one split's data: gather through the shuffled order (train)
/// or in sequence (evaluation).
struct SplitBindings {
    shuffled: Binding,
    sequential: Binding,
    len: usize,
}

/// The texture variant's operand textures, per layer l: its input acts[l]
/// (batch×in), its weights W_l (in×out) and its output gradient dz[l] (batch×out).
struct LayerTextures {
    input: Vec<OperandTexture>,
    weights: Vec<OperandTexture>,
    grad: Vec<OperandTexture>,
}

impl LayerTextures {
    fn new(ctx: &GpuContext, arch: &Architecture, max_batch: usize) -> Self {
        let make = |what: &str, l: usize, rows: usize, cols: usize| {
            OperandTexture::new(ctx, &format!("{what}[{l}] texture"), rows, cols)
        };
        let layers = 0..arch.layers();
        LayerTextures {
            input: layers
                .clone()
                .map(|l| make("acts", l, max_batch, arch.sizes[l]))
                .collect(),
            weights: layers
                .clone()
                .map(|l| {
                    let (k, n) = arch.layer_shape(l);
                    make("w", l, k, n)
                })
                .collect(),
            grad: layers
                .map(|l| make("dz", l, max_batch, arch.sizes[l + 1]))
                .collect(),
        }
    }
}

/// A product operand: its texture where the variant reads textures, else the buffer.
fn operand<'a>(
    texture: Option<&'a OperandTexture>,
    buffer: &'a wgpu::Buffer,
) -> wgpu::BindingResource<'a> {
    match texture {
        Some(t) => wgpu::BindingResource::TextureView(&t.view),
        None => buffer.as_entire_binding(),
    }
}

/// Per layer l, the packs that copy its matmul operands into textures: the layer
/// input acts[l] and weights W_l before the forward product, the output gradient
/// dz[l] before the backward products (which reuse the forward's textures of
/// acts[l] and W_l: the optimizer runs after them).
struct Packs {
    input: Vec<Binding>,
    weights: Vec<Binding>,
    grad: Vec<Binding>,
}

pub struct GpuBackend {
    ctx: GpuContext,
    arch: Architecture,
    opt: Optimizer,
    rec: Recorder,
    variant: MatmulVariant,
    pixels: usize,
    order: wgpu::Buffer,
    params: wgpu::Buffer,
    /// The last layer's output (batch×classes), read back only by `predictions`.
    logits: wgpu::Buffer,
    /// Optimizer state: momentum's velocity / Adam's first moment, Adam's second moment.
    opt_m: wgpu::Buffer,
    opt_v: wgpu::Buffer,
    metrics: wgpu::Buffer,
    /// Mappable copy of `metrics`, filled by the same submit as an epoch's last steps.
    metrics_staging: wgpu::Buffer,
    train: SplitBindings,
    test: SplitBindings,
    forward: Vec<BoundProduct>,
    /// The texture variant's packs, recorded before the products that read them.
    packs: Option<Packs>,
    backward_weight: Vec<BoundProduct>,
    bias_backward: Vec<Binding>,
    /// Layer 0 has none: the input needs no gradient.
    backward_input: Vec<Option<BoundProduct>>,
    loss: Binding,
    batch_metrics: Binding,
    update: Binding,
    /// Steps recorded in the current epoch (= its metric slots).
    step_in_epoch: usize,
    /// Optimizer steps taken over the whole run (Adam's t).
    t: u64,
    /// Rows the activation buffers hold.
    max_batch: usize,
}

impl GpuBackend {
    /// A backend with the matmul variant `MatmulVariant::for_adapter` picks.
    pub fn new(
        ctx: GpuContext,
        data: Arc<Dataset>,
        arch: &Architecture,
        opt: Optimizer,
        params: Vec<f32>,
        batch_size: usize,
    ) -> Result<Self> {
        let mut variant = MatmulVariant::for_adapter(&ctx.info)?;
        let max_batch = batch_rows(batch_size, data.train.len()).1;
        if variant == MatmulVariant::Texture
            && MatmulVariant::from_env()?.is_none()
            && !textures_fit(&ctx, arch, max_batch)
        {
            log::info!(
                "the network's operands exceed {}'s largest texture ({} texels): using the blocked matmul",
                ctx.info.name,
                ctx.limits.max_texture_dimension_2d
            );
            variant = MatmulVariant::Blocked;
        }
        Self::with_variant(ctx, data, arch, opt, params, batch_size, variant)
    }

    pub fn with_variant(
        ctx: GpuContext,
        data: Arc<Dataset>,
        arch: &Architecture,
        opt: Optimizer,
        params: Vec<f32>,
        batch_size: usize,
        variant: MatmulVariant,
    ) -> Result<Self> {
        assert_eq!(params.len(), arch.param_count());
        // A batch never holds more than the training set, whatever --batch-size says.
        let (batch_size, max_batch) = batch_rows(batch_size, data.train.len());
        check_limits(&ctx, &data, arch, batch_size, max_batch, variant)?;
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);

        let matmul = MatmulKernels::variant(&ctx, variant)?;
        let gather = gather::kernel(&ctx)?;
        let loss = softmax_xent::kernel(&ctx)?;
        let bias = reduce::kernel(&ctx)?;
        let sums = metrics::kernel(&ctx)?;
        let update = optimizer::kernel(&ctx, opt.kind)?;

        let f32s = |n: usize| (n * 4) as u64;
        let layers = arch.layers();
        // acts[0] is the input batch, acts[l+1] layer l's output; dz[l] the gradient at layer l's output.
        let acts: Vec<wgpu::Buffer> = arch
            .sizes
            .iter()
            .enumerate()
            .map(|(l, &s)| storage_buffer(&ctx, &format!("acts[{l}]"), f32s(s * max_batch)))
            .collect();
        let dz: Vec<wgpu::Buffer> = arch.sizes[1..]
            .iter()
            .enumerate()
            .map(|(l, &s)| storage_buffer(&ctx, &format!("dz[{l}]"), f32s(s * max_batch)))
            .collect();
        let labels = storage_buffer(&ctx, "batch labels", f32s(max_batch));
        let row_loss = storage_buffer(&ctx, "row loss", f32s(max_batch));
        let row_correct = storage_buffer(&ctx, "row correct", f32s(max_batch));
        let params_buf = storage_buffer_init(&ctx, "params", bytemuck::cast_slice(&params));
        let grads = storage_buffer(&ctx, "grads", f32s(params.len()));
        let state_len = |used: bool| if used { params.len() } else { 1 };
        let m = storage_buffer(
            &ctx,
            "optimizer m",
            f32s(state_len(opt.kind != OptimizerKind::Sgd)),
        );
        let v = storage_buffer(
            &ctx,
            "optimizer v",
            f32s(state_len(opt.kind == OptimizerKind::Adam)),
        );
        // One slot per step; sized for batches of one so no caller can overrun it (8 bytes an example).
        let slots = data.train.len().max(data.test.len().div_ceil(EVAL_BATCH));
        let metrics_buf = storage_buffer(&ctx, "metrics", f32s(2 * slots));
        let metrics_staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("metrics read-back"),
            size: f32s(2 * slots).max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let order = storage_buffer(&ctx, "order", f32s(data.train.len()));
        let sequence: Vec<u32> = (0..data.train.len().max(data.test.len()) as u32).collect();
        let sequence = storage_buffer_init(&ctx, "sequence", bytemuck::cast_slice(&sequence));

        // Per layer: 3 products, the bias gradient and 3 packs (texture variant).
        let per_step = 7 * layers + 3;
        let rec = Recorder::new(&ctx, CHUNK_STEPS * per_step);
        let arena = rec.arena();
        let bind_split = |split: &Split, name: &str| -> SplitBindings {
            let images = storage_buffer_init(&ctx, &format!("{name} images"), &split.images);
            let split_labels: Vec<u32> = split.labels.iter().map(|&l| l as u32).collect();
            let split_labels = storage_buffer_init(
                &ctx,
                &format!("{name} labels"),
                bytemuck::cast_slice(&split_labels),
            );
            let bind = |order: &wgpu::Buffer| {
                gather.bind(
                    &ctx,
                    arena,
                    &[&images, &split_labels, order, &acts[0], &labels],
                )
            };
            SplitBindings {
                shuffled: bind(&order),
                sequential: bind(&sequence),
                len: split.len(),
            }
        };
        let train = bind_split(&data.train, "train");
        let test = bind_split(&data.test, "test");
        let bind = |k: &Kernel, bufs: &[&wgpu::Buffer]| k.bind(&ctx, arena, bufs);
        let textures =
            (variant == MatmulVariant::Texture).then(|| LayerTextures::new(&ctx, arch, max_batch));
        let tex = |pick: fn(&LayerTextures) -> &Vec<OperandTexture>, l: usize| {
            textures.as_ref().map(|t| &pick(t)[l])
        };
        let bind_product = |product: Product, ops: [wgpu::BindingResource; 4]| {
            matmul.bind(&ctx, arena, product, &ops)
        };
        let forward = (0..layers)
            .map(|l| {
                bind_product(
                    Product::Forward,
                    [
                        operand(tex(|t| &t.input, l), &acts[l]),
                        operand(tex(|t| &t.weights, l), &params_buf),
                        acts[l + 1].as_entire_binding(),
                        params_buf.as_entire_binding(),
                    ],
                )
            })
            .collect();
        let backward_weight = (0..layers)
            .map(|l| {
                bind_product(
                    Product::BackwardWeight,
                    [
                        operand(tex(|t| &t.input, l), &acts[l]),
                        operand(tex(|t| &t.grad, l), &dz[l]),
                        grads.as_entire_binding(),
                        acts[l].as_entire_binding(),
                    ],
                )
            })
            .collect();
        let packs = match (&textures, &matmul.pack) {
            (Some(t), Some(pack)) => {
                let bind_pack = |src: &wgpu::Buffer, dst: &OperandTexture| {
                    pack.bind_resources(
                        &ctx,
                        arena,
                        &[
                            src.as_entire_binding(),
                            wgpu::BindingResource::TextureView(&dst.view),
                        ],
                    )
                };
                Some(Packs {
                    input: (0..layers)
                        .map(|l| bind_pack(&acts[l], &t.input[l]))
                        .collect(),
                    weights: (0..layers)
                        .map(|l| bind_pack(&params_buf, &t.weights[l]))
                        .collect(),
                    grad: (0..layers).map(|l| bind_pack(&dz[l], &t.grad[l])).collect(),
                })
            }
            _ => None,
        };
        let bias_backward = (0..layers)
            .map(|l| bind(&bias, &[&dz[l], &grads]))
            .collect();
        let backward_input = (0..layers)
            .map(|l| {
                (l > 0).then(|| {
                    bind_product(
                        Product::BackwardInput,
                        [
                            operand(tex(|t| &t.grad, l), &dz[l]),
                            operand(tex(|t| &t.weights, l), &params_buf),
                            dz[l - 1].as_entire_binding(),
                            acts[l].as_entire_binding(),
                        ],
                    )
                })
            })
            .collect();
        let loss = bind(
            &loss,
            &[
                &acts[layers],
                &labels,
                &dz[layers - 1],
                &row_loss,
                &row_correct,
            ],
        );
        let batch_metrics = bind(&sums, &[&row_loss, &row_correct, &metrics_buf]);
        let update = bind(&update, &[&params_buf, &grads, &m, &v]);

        log::debug!(
            "GPU buffers: train images {} B, test images {} B, parameters {} B (×{} with gradients and optimizer state), \
             activations {} B per layer at most, arena {} dispatches",
            data.train.images.len(),
            data.test.images.len(),
            4 * params.len(),
            2 + usize::from(opt.kind != OptimizerKind::Sgd) + usize::from(opt.kind == OptimizerKind::Adam),
            4 * arch.widest() * max_batch,
            CHUNK_STEPS * per_step
        );
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu(format!("setting up on {}: {e}", ctx.info.name)));
        }
        ctx.wait()?;
        Ok(GpuBackend {
            arch: arch.clone(),
            opt,
            variant,
            pixels: data.pixels(),
            order,
            params: params_buf,
            logits: acts[layers].clone(),
            opt_m: m,
            opt_v: v,
            metrics: metrics_buf,
            metrics_staging,
            train,
            test,
            forward,
            packs,
            backward_weight,
            bias_backward,
            backward_input,
            loss,
            batch_metrics,
            update,
            step_in_epoch: 0,
            t: 0,
            max_batch,
            rec,
            ctx,
        })
    }

    /// Records gather, forward, loss (gradient averaged over `len`) and the metric sum
    /// into `slot` for one batch.
    fn record_forward_loss(
        &mut self,
        split: SplitKind,
        shuffled: bool,
        start: usize,
        len: usize,
        slot: usize,
    ) {
        let bindings = match split {
            SplitKind::Train => &self.train,
            SplitKind::Test => &self.test,
        };
        let gather = if shuffled {
            &bindings.shuffled
        } else {
            &bindings.sequential
        };
        let g = GatherParams::new(len, self.pixels, start);
        self.rec.dispatch(&self.ctx, gather, &g, g.workgroups());
        let arch = &self.arch;
        for l in 0..arch.layers() {
            let (k, n) = arch.layer_shape(l);
            let act = if l + 1 < arch.layers() {
                arch.activation.code()
            } else {
                0
            };
            if let Some(packs) = &self.packs {
                let p = PackParams::new(0, len, k);
                self.rec
                    .dispatch(&self.ctx, &packs.input[l], &p, p.workgroups());
                let p = PackParams::new(arch.weight_offset(l), k, n);
                self.rec
                    .dispatch(&self.ctx, &packs.weights[l], &p, p.workgroups());
            }
            let p =
                MatmulParams::forward(len, k, n, arch.weight_offset(l), arch.bias_offset(l), act);
            self.forward[l].record(&self.ctx, &mut self.rec, &p);
        }
        let p = LossParams::new(len, arch.classes(), arch.loss, len);
        self.rec.dispatch(&self.ctx, &self.loss, &p, p.workgroups());
        let p = MetricsParams::new(len, slot);
        self.rec
            .dispatch(&self.ctx, &self.batch_metrics, &p, [1, 1, 1]);
    }

    fn record_backward_update(&mut self, len: usize) {
        let arch = &self.arch;
        for l in (0..arch.layers()).rev() {
            let (k, n) = arch.layer_shape(l);
            if let Some(packs) = &self.packs {
                let p = PackParams::new(0, len, n);
                self.rec
                    .dispatch(&self.ctx, &packs.grad[l], &p, p.workgroups());
            }
            let p = MatmulParams::backward_weight(len, k, n, arch.weight_offset(l));
            self.backward_weight[l].record(&self.ctx, &mut self.rec, &p);
            let p = ReduceParams::bias_backward(len, n, arch.bias_offset(l));
            self.rec
                .dispatch(&self.ctx, &self.bias_backward[l], &p, p.workgroups());
            if let Some(b) = &self.backward_input[l] {
                let p = MatmulParams::backward_input(
                    len,
                    k,
                    n,
                    arch.weight_offset(l),
                    arch.activation.code(),
                );
                b.record(&self.ctx, &mut self.rec, &p);
            }
        }
        self.t += 1;
        let p = OptimizerParams::new(&self.opt, arch.param_count(), self.t);
        self.rec
            .dispatch(&self.ctx, &self.update, &p, p.workgroups());
    }

    /// Submits what is recorded, then reads and adds the first `slots` metric slots
    /// in order, in f64 (a fixed order: the same bits every run).
    fn collect_metrics(&mut self, slots: usize, count: usize) -> Result<Totals> {
        let bytes = (8 * slots) as u64;
        let (metrics, staging) = (&self.metrics, &self.metrics_staging);
        self.rec.submit_with(&self.ctx, |enc| {
            enc.copy_buffer_to_buffer(metrics, 0, staging, 0, bytes)
        });
        let m: Vec<f32> = bytemuck::pod_collect_to_vec(&self.ctx.map_and_read(staging, bytes)?);
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
        format!("{} [{} matmul]", self.ctx.describe(), self.variant.name())
    }

    fn begin_epoch(&mut self, order: &[u32]) -> Result<()> {
        crate::train::check_order(order, self.train.len)?;
        if !self.rec.is_empty() {
            self.rec.submit(&self.ctx);
        }
        // Applied by the queue before the epoch's first submit.
        self.ctx
            .queue
            .write_buffer(&self.order, 0, bytemuck::cast_slice(order));
        self.step_in_epoch = 0;
        self.ctx.check()
    }

    fn train_batch(&mut self, start: usize, len: usize) -> Result<()> {
        if len == 0 || len > self.max_batch || start + len > self.train.len {
            return Err(Error::Config(format!(
                "a batch of examples {start}..{} does not fit (batch buffers hold {}, the training set {})",
                start + len,
                self.max_batch,
                self.train.len
            )));
        }
        let slot = self.step_in_epoch;
        // Submit full chunks lazily, when the next step arrives, so that the epoch's
        // last chunk always goes out with its metrics copy: ceil(steps / 64) submits.
        if slot > 0 && slot % CHUNK_STEPS == 0 {
            self.rec.submit(&self.ctx);
        }
        self.record_forward_loss(SplitKind::Train, true, start, len, slot);
        self.record_backward_update(len);
        self.step_in_epoch += 1;
        Ok(())
    }

    fn end_epoch(&mut self) -> Result<Totals> {
        let n = self.train.len;
        self.collect_metrics(self.step_in_epoch, n)
    }

    fn evaluate(&mut self, split: SplitKind) -> Result<Totals> {
        let n = match split {
            SplitKind::Train => self.train.len,
            SplitKind::Test => self.test.len,
        };
        let mut slots = 0;
        for start in (0..n).step_by(EVAL_BATCH) {
            let len = EVAL_BATCH.min(n - start);
            self.record_forward_loss(split, false, start, len, slots);
            slots += 1;
        }
        self.collect_metrics(slots, n)
    }

    fn predictions(&mut self, split: SplitKind) -> Result<Vec<u8>> {
        let n = match split {
            SplitKind::Train => self.train.len,
            SplitKind::Test => self.test.len,
        };
        let classes = self.arch.classes();
        let mut out = Vec::with_capacity(n);
        // Evaluation only: one read-back of the logits per batch is fine here.
        for start in (0..n).step_by(EVAL_BATCH) {
            let len = EVAL_BATCH.min(n - start);
            self.record_forward_loss(split, false, start, len, 0);
            self.rec.submit(&self.ctx);
            let logits = read_f32(&self.ctx, &self.logits, len * classes)?;
            out.extend(logits.chunks_exact(classes).map(|z| argmax(z) as u8));
        }
        Ok(out)
    }

    fn parameters(&mut self) -> Result<Vec<f32>> {
        self.rec.submit(&self.ctx);
        read_f32(&self.ctx, &self.params, self.arch.param_count())
    }

    fn optimizer_state(&mut self) -> Result<OptimizerState<f32>> {
        self.rec.submit(&self.ctx);
        let mut state = OptimizerState::new(&self.opt, self.arch.param_count());
        if !state.m.is_empty() {
            state.m = read_f32(&self.ctx, &self.opt_m, state.m.len())?;
        }
        if !state.v.is_empty() {
            state.v = read_f32(&self.ctx, &self.opt_v, state.v.len())?;
        }
        state.t = self.t;
        Ok(state)
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState<f32>) -> Result<()> {
        let fresh = OptimizerState::<f32>::new(&self.opt, self.arch.param_count());
        if (state.m.len(), state.v.len()) != (fresh.m.len(), fresh.v.len()) {
            return Err(Error::Config(
                "the optimizer state does not fit this optimizer and network".into(),
            ));
        }
        self.rec.submit(&self.ctx);
        if !state.m.is_empty() {
            self.ctx
                .queue
                .write_buffer(&self.opt_m, 0, bytemuck::cast_slice(&state.m));
        }
        if !state.v.is_empty() {
            self.ctx
                .queue
                .write_buffer(&self.opt_v, 0, bytemuck::cast_slice(&state.v));
        }
        self.t = state.t;
        Ok(())
    }

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
    fits("the training images".into(), data.train.images.len() as u64)?;
    fits("the test images".into(), data.test.images.len() as u64)?;
    fits("the parameters".into(), arch.param_count() as u64 * 4)?;
    fits(
        format!(
            "a batch of {max_batch} activations of the widest layer ({})",
            arch.widest()
        ),
        (arch.widest() * max_batch) as u64 * 4,
    )?;
    // Byte offsets into the packed images are u32 in the shader.
    for (name, split) in [("training", &data.train), ("test", &data.test)] {
        if split.images.len() > u32::MAX as usize {
            return Err(Error::Gpu(format!(
                "the {name} images exceed 4 GiB; use --train-limit/--test-limit"
            )));
        }
    }
    let max_groups = lim.max_compute_workgroups_per_dimension as usize;
    if batch_size > max_groups {
        return Err(Error::Config(format!(
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
    if lim.max_storage_buffers_per_shader_stage < 5
        || lim.max_compute_invocations_per_workgroup < 256
        || lim.max_compute_workgroup_storage_size < shared
    {
        return Err(Error::Gpu(format!(
            "{} offers too little for the kernels (needs 5 storage buffers per stage, 256 invocations \
             and {shared} bytes of workgroup memory per workgroup); use --cpu",
            ctx.info.name
        )));
    }
    Ok(())
}

/// The training batch actually used (never more than the training set) and the rows
/// the batch buffers hold (evaluation runs `EVAL_BATCH` at a time).
fn batch_rows(batch_size: usize, train_len: usize) -> (usize, usize) {
    let batch = batch_size.min(train_len).max(1);
    (batch, batch.max(EVAL_BATCH))
}

/// Whether every operand texture of the texture matmul fits the adapter: activations
/// and their gradients (batch × width) and the weights (in × out) of each layer.
fn textures_fit(ctx: &GpuContext, arch: &Architecture, max_batch: usize) -> bool {
    (0..arch.layers()).all(|l| {
        let (k, n) = arch.layer_shape(l);
        OperandTexture::fits(ctx, max_batch, k)
            && OperandTexture::fits(ctx, max_batch, n)
            && OperandTexture::fits(ctx, k, n)
    })
}
