//! The backend's device state, made once: every pipeline a step uses, the batch's
//! activations and gradients, the parameters with their gradients and optimizer
//! state, and the totals slots an epoch's losses are summed into.

use crate::backend::EVAL_BATCH;
use crate::data::Dataset;
use crate::error::Result;
use crate::gpu::context::GpuContext;
use crate::gpu::kernel::{storage_buffer, storage_buffer_init, Binding, Kernel};
use crate::gpu::layer::LayerBuffers;
use crate::gpu::matmul::{MatmulKernels, MatmulVariant};
use crate::gpu::optimizer::UpdateBindings;
use crate::gpu::{dropout, gather, loss, optimizer, reduce, totals};
use crate::network::Architecture;
use crate::optimizer::{Optimizer, OptimizerState};

/// Every pipeline a training step uses.
pub(super) struct Kernels {
    pub(super) matmul: MatmulKernels,
    pub(super) dropout: (Kernel, Kernel),
    pub(super) gather: Kernel,
    pub(super) loss: Kernel,
    pub(super) bias: Kernel,
    pub(super) totals: Kernel,
    pub(super) update: Kernel,
}

impl Kernels {
    pub(super) fn new(
        ctx: &GpuContext,
        variant: MatmulVariant,
        opt: &Optimizer,
        workers: Option<u32>,
        head: crate::task::HeadKernel,
    ) -> Result<Self> {
        let matmul = MatmulKernels::variant(ctx, variant)?;
        Ok(Kernels {
            matmul: match workers {
                Some(w) => matmul.with_workers(w),
                None => matmul,
            },
            gather: gather::kernel(ctx)?,
            dropout: dropout::kernels(ctx)?,
            loss: loss::kernel(ctx, head)?,
            bias: reduce::kernel(ctx)?,
            totals: totals::kernel(ctx)?,
            update: optimizer::kernel(ctx, opt.kind)?,
        })
    }
}

/// The per-batch buffers: acts[0] is the input batch, acts[l+1] layer l's output,
/// dz[l] the gradient at layer l's pre-activation output; the batch's target
/// words, each output's positive weight, and each row's loss and correctness.
pub(super) struct Activations {
    pub(super) acts: Vec<wgpu::Buffer>,
    pub(super) dz: Vec<wgpu::Buffer>,
    /// kept[l+1]: layer l's output after dropout, where it has dropout.
    pub(super) kept: Vec<Option<wgpu::Buffer>>,
    pub(super) targets: wgpu::Buffer,
    pub(super) pos_weight: wgpu::Buffer,
    pub(super) row_loss: wgpu::Buffer,
    pub(super) row_correct: wgpu::Buffer,
}

impl Activations {
    /// Buffers for `rows` examples whose target words are at most `stride` each.
    pub(super) fn new(ctx: &GpuContext, arch: &Architecture, rows: usize, stride: usize) -> Self {
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
            targets: buffer("batch targets".into(), stride),
            pos_weight: storage_buffer_init(
                ctx,
                "positive weights",
                bytemuck::cast_slice(
                    &(0..arch.outputs())
                        .map(|j| arch.head.pos_weight_of(j))
                        .collect::<Vec<f32>>(),
                ),
            ),
            row_loss: buffer("row loss".into(), 1),
            row_correct: buffer("row correct".into(), 1),
        }
    }

    /// What layer `l` reads and writes.
    pub(super) fn layer<'a>(&'a self, l: usize, params: &'a ParamBuffers) -> LayerBuffers<'a> {
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
pub(super) struct ParamBuffers {
    pub(super) values: wgpu::Buffer,
    pub(super) grads: wgpu::Buffer,
    /// Momentum's velocity / Adam's first moment, Adam's second moment (one float
    /// where unused: bindings cannot be empty).
    pub(super) m: wgpu::Buffer,
    pub(super) v: wgpu::Buffer,
}

impl ParamBuffers {
    /// The optimizer step bound to the parameters, their gradients and its state.
    pub(super) fn bind_update(
        &self,
        update: &Kernel,
        ctx: &GpuContext,
        arena: &wgpu::Buffer,
    ) -> Binding {
        let bindings = UpdateBindings {
            params: &self.values,
            grads: &self.grads,
            m: &self.m,
            v: &self.v,
        };
        bindings.bind(update, ctx, arena)
    }

    pub(super) fn new(ctx: &GpuContext, params: &[f32], opt: &Optimizer) -> Self {
        let state = OptimizerState::<f32>::new(opt.kind, params.len());
        ParamBuffers {
            values: storage_buffer_init(ctx, "params", bytemuck::cast_slice(params)),
            grads: storage_buffer(ctx, "grads", f32_bytes(params.len())),
            m: storage_buffer(ctx, "optimizer m", f32_bytes(state.m.len())),
            v: storage_buffer(ctx, "optimizer v", f32_bytes(state.v.len())),
        }
    }
}

/// One (loss sum, correct count) slot per step or evaluation batch, and its
/// mappable copy, filled by the same submit as an epoch's last steps.
pub(super) struct TotalSlots {
    pub(super) slots: wgpu::Buffer,
    pub(super) staging: wgpu::Buffer,
}

impl TotalSlots {
    /// Sized for batches of one, so that no caller can overrun it (8 bytes an example).
    pub(super) fn new(ctx: &GpuContext, data: &Dataset) -> Self {
        let slots = data.train.len().max(data.test.len().div_ceil(EVAL_BATCH));
        TotalSlots {
            slots: storage_buffer(ctx, "batch totals", f32_bytes(2 * slots)),
            staging: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("totals read-back"),
                size: f32_bytes(2 * slots).max(4),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        }
    }
}

pub(super) fn f32_bytes(n: usize) -> u64 {
    (n * 4) as u64
}
