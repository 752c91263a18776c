//! A dense layer on the GPU: its products bound to the buffers they use, built in
//! one place, and recorded step by step as cpu/layer.rs computes them.
//! Shapes: a: batch×in (the layer input), W: in×out, z: batch×out (row-major).

use super::context::GpuContext;
use super::dropout::{DropoutBindings, DropoutParams};
use super::kernel::{Binding, Kernel, Recorder};
use super::matmul::{
    BoundProduct, MatmulKernels, MatmulParams, OperandTexture, PackParams, Product, ProductOperands,
};
use super::reduce::{ReduceBindings, ReduceParams};
use crate::dropout::{DropoutMask, DropoutStep};
use crate::network::{Activation, Layer};

/// The buffers one layer reads and writes.
pub struct LayerBuffers<'a> {
    /// The layer input a (batch×in): `kept[l]` where the layer below has dropout,
    /// else `acts[l]`.
    pub input: &'a wgpu::Buffer,
    /// `acts[l]`: the layer below's activation output before dropout, whose
    /// derivative the input gradient needs (the same buffer as `input` without dropout).
    pub input_activation: &'a wgpu::Buffer,
    /// `acts[l+1]`: the layer output act(z) (batch×out).
    pub output: &'a wgpu::Buffer,
    /// `kept[l+1]`: the output after this layer's dropout, where it has dropout.
    pub kept: Option<&'a wgpu::Buffer>,
    /// `dz[l]`: the gradient at the pre-activation output (batch×out).
    pub output_grad: &'a wgpu::Buffer,
    /// `dz[l−1]`: the gradient passed down to the layer below (batch×in); None for
    /// the first layer.
    pub input_grad: Option<&'a wgpu::Buffer>,
    /// Every parameter (W and b at the layer's offsets) and their gradients.
    pub params: &'a wgpu::Buffer,
    pub grads: &'a wgpu::Buffer,
}

/// One layer's kernels, bound once at start.
pub struct DenseLayer {
    spec: Layer,
    /// z = act(a·W + b)
    forward: BoundProduct,
    /// dW = aᵀ·dz
    backward_weight: BoundProduct,
    /// db = Σ_rows dz
    bias_backward: Binding,
    /// da = (dz·Wᵀ) ⊙ act'(a), where the layer has an input gradient to pass down.
    backward_input: Option<BoundProduct>,
    /// The texture variant's copies of the operands into textures.
    packs: Option<OperandPacks>,
    /// Dropout on the output: forward (output → kept) and backward (dz in place).
    dropout: Option<(Binding, Binding)>,
}

impl DenseLayer {
    /// Binds `spec`'s products to `bufs`, with operand textures of up to `max_batch`
    /// rows when the matmul variant reads textures.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ctx: &GpuContext,
        arena: &wgpu::Buffer,
        matmul: &MatmulKernels,
        bias: &Kernel,
        dropout: &(Kernel, Kernel),
        spec: Layer,
        bufs: &LayerBuffers,
        max_batch: usize,
    ) -> Self {
        let packs = matmul
            .pack
            .as_ref()
            .map(|pack| OperandPacks::new(ctx, arena, pack, &spec, bufs, max_batch));
        let [input, weights, output_grad] = matmul_inputs(packs.as_ref(), bufs);
        let bind = |product, operands| matmul.bind(ctx, arena, product, operands);
        DenseLayer {
            forward: bind(
                Product::Forward,
                ProductOperands {
                    a: input.clone(),
                    b: weights.clone(),
                    c: bufs.output,
                    aux: bufs.params,
                },
            ),
            backward_weight: bind(
                Product::BackwardWeight,
                ProductOperands {
                    a: input,
                    b: output_grad.clone(),
                    c: bufs.grads,
                    aux: bufs.input,
                },
            ),
            bias_backward: ReduceBindings {
                dz: bufs.output_grad,
                grads: bufs.grads,
            }
            .bind(bias, ctx, arena),
            backward_input: bufs
                .input_grad
                .filter(|_| spec.input_activation.is_some())
                .map(|da| {
                    bind(
                        Product::BackwardInput,
                        ProductOperands {
                            a: output_grad,
                            b: weights,
                            c: da,
                            aux: bufs.input_activation,
                        },
                    )
                }),
            packs,
            dropout: bind_dropout(ctx, arena, dropout, &spec, bufs),
            spec,
        }
    }

    /// z = act(a·W + b) for `batch` rows, then dropout while training (`step`); when
    /// evaluating, the output is copied unchanged to where the next layer reads it.
    pub fn record_forward(
        &self,
        ctx: &GpuContext,
        rec: &mut Recorder,
        batch: usize,
        step: Option<DropoutStep>,
    ) {
        let l = &self.spec;
        if let Some(packs) = &self.packs {
            packs.record_forward(ctx, rec, l, batch);
        }
        let act = Activation::code_of(l.activation);
        let (k, n) = (l.inputs, l.outputs);
        let p = MatmulParams::forward(batch, k, n, l.weight_offset, l.bias_offset, act);
        self.forward.record(ctx, rec, &p);
        if let Some((forward, _)) = &self.dropout {
            let p =
                DropoutParams::new(batch * n, DropoutMask::for_layer(&self.spec, step).as_ref());
            rec.dispatch(ctx, forward, &p, p.workgroups());
        }
    }

    /// dW, db and (except for the first layer) da from dz, for `batch` rows of
    /// training step `step`, whose dropout mask dz passes through first.
    pub fn record_backward(
        &self,
        ctx: &GpuContext,
        rec: &mut Recorder,
        batch: usize,
        step: DropoutStep,
    ) {
        let l = &self.spec;
        if let (Some((_, backward)), Some(mask)) = (
            &self.dropout,
            DropoutMask::for_layer(&self.spec, Some(step)),
        ) {
            let p = DropoutParams::new(batch * l.outputs, Some(&mask));
            rec.dispatch(ctx, backward, &p, p.workgroups());
        }
        if let Some(packs) = &self.packs {
            packs.record_backward(ctx, rec, l, batch);
        }
        let (k, n) = (l.inputs, l.outputs);
        let p = MatmulParams::backward_weight(batch, k, n, l.weight_offset);
        self.backward_weight.record(ctx, rec, &p);
        let p = ReduceParams::bias_backward(batch, n, l.bias_offset);
        rec.dispatch(ctx, &self.bias_backward, &p, p.workgroups());
        if let Some(b) = &self.backward_input {
            let act = Activation::code_of(l.input_activation);
            let p = MatmulParams::backward_input(batch, k, n, l.weight_offset, act);
            b.record(ctx, rec, &p);
        }
    }
}

/// What the products read as a, W and dz: the operand textures where the variant
/// reads textures, else the buffers themselves.
fn matmul_inputs<'a>(
    packs: Option<&'a OperandPacks>,
    bufs: &LayerBuffers<'a>,
) -> [wgpu::BindingResource<'a>; 3] {
    match packs {
        Some(p) => p
            .textures
            .each_ref()
            .map(|t| wgpu::BindingResource::TextureView(&t.view)),
        None => [bufs.input, bufs.params, bufs.output_grad].map(|b| b.as_entire_binding()),
    }
}

/// Dropout on a layer's output, where it has dropout: forward (output → kept) and
/// backward (its gradient masked in place).
fn bind_dropout(
    ctx: &GpuContext,
    arena: &wgpu::Buffer,
    (forward, backward): &(Kernel, Kernel),
    spec: &Layer,
    bufs: &LayerBuffers,
) -> Option<(Binding, Binding)> {
    let kept = bufs.kept.filter(|_| spec.dropout.is_some())?;
    let apply = DropoutBindings {
        source: bufs.output,
        target: kept,
    };
    // Masks dz in place; its source binding goes unused.
    let mask_gradient = DropoutBindings {
        source: bufs.output,
        target: bufs.output_grad,
    };
    Some((
        apply.bind(forward, ctx, arena),
        mask_gradient.bind(backward, ctx, arena),
    ))
}

/// The texture variant's operand textures of one layer, a (batch×in), W (in×out)
/// and dz (batch×out), and the packs that fill them: a and W before the forward
/// product, dz before the backward products (which reuse the forward's a and W:
/// the optimizer runs only after them).
struct OperandPacks {
    textures: [OperandTexture; 3],
    input: Binding,
    weights: Binding,
    output_grad: Binding,
}

impl OperandPacks {
    fn new(
        ctx: &GpuContext,
        arena: &wgpu::Buffer,
        pack: &Kernel,
        spec: &Layer,
        bufs: &LayerBuffers,
        max_batch: usize,
    ) -> Self {
        let (l, k, n) = (spec.index, spec.inputs, spec.outputs);
        let textures = [
            OperandTexture::new(ctx, &format!("acts[{l}] texture"), max_batch, k),
            OperandTexture::new(ctx, &format!("w[{l}] texture"), k, n),
            OperandTexture::new(ctx, &format!("dz[{l}] texture"), max_batch, n),
        ];
        let bind = |src: &wgpu::Buffer, dst: &OperandTexture| {
            let resources = [
                src.as_entire_binding(),
                wgpu::BindingResource::TextureView(&dst.view),
            ];
            pack.bind_resources(ctx, arena, &resources)
        };
        OperandPacks {
            input: bind(bufs.input, &textures[0]),
            weights: bind(bufs.params, &textures[1]),
            output_grad: bind(bufs.output_grad, &textures[2]),
            textures,
        }
    }

    fn record_forward(&self, ctx: &GpuContext, rec: &mut Recorder, l: &Layer, batch: usize) {
        let p = PackParams::new(0, batch, l.inputs);
        rec.dispatch(ctx, &self.input, &p, p.workgroups());
        let p = PackParams::new(l.weight_offset, l.inputs, l.outputs);
        rec.dispatch(ctx, &self.weights, &p, p.workgroups());
    }

    fn record_backward(&self, ctx: &GpuContext, rec: &mut Recorder, l: &Layer, batch: usize) {
        let p = PackParams::new(0, batch, l.outputs);
        rec.dispatch(ctx, &self.output_grad, &p, p.workgroups());
    }
}
