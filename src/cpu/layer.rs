//! A dense layer's forward and backward pass on the CPU, over the named operations
//! of matmul.rs and activation.rs: the twin of gpu/layer.rs, step for step.
//! Shapes: a: batch×in (the layer input), W: in×out, z: batch×out (row-major).

use super::activation::{activation_backward, bias_activation_forward};
use super::matmul::{bias_backward, matmul_backward_input, matmul_backward_weight, matmul_forward};
use super::pool::{self, Disjoint};
use super::real::Real;
use crate::network::Layer;

/// Elementwise loops shorter than this stay on one thread.
pub const ELEMENTWISE_MIN: usize = 1 << 14;

/// z = act(a·W + b).
pub fn dense_forward<T: Real>(layer: &Layer, params: &[T], a: &[T], z: &mut [T], batch: usize) {
    let (k, n) = (layer.inputs, layer.outputs);
    matmul_forward(a, &params[layer.weight_range()], z, batch, k, n);
    let b = &params[layer.bias_range()];
    let z = Disjoint::new(z);
    pool::for_ranges(batch, ELEMENTWISE_MIN / n.max(1), &|rows| {
        // SAFETY: for_ranges hands every part rows of its own.
        let z = unsafe { z.range(rows.start * n..rows.end * n) };
        bias_activation_forward(z, b, n, layer.activation);
    });
}

/// From dz (batch×out, the gradient at the layer's pre-activation output): dW = aᵀ·dz
/// and db = Σ_rows dz into `grads`, and, where the layer has an input gradient to
/// pass down, da = (dz·Wᵀ) ⊙ act'(a) into `da` (the gradient at the layer below's
/// pre-activation output). `a` is what the forward pass read (after the layer
/// below's dropout), `a_act` the layer below's activation output before dropout,
/// whose derivative act' needs (the same slice without dropout).
#[allow(clippy::too_many_arguments)]
pub fn dense_backward<T: Real>(
    layer: &Layer,
    params: &[T],
    a: &[T],
    a_act: &[T],
    dz: &[T],
    grads: &mut [T],
    da: Option<&mut [T]>,
    batch: usize,
) {
    let (k, n) = (layer.inputs, layer.outputs);
    matmul_backward_weight(a, dz, &mut grads[layer.weight_range()], batch, k, n);
    bias_backward(dz, &mut grads[layer.bias_range()], batch, n);
    let (Some(da), Some(act)) = (da, layer.input_activation) else {
        return;
    };
    matmul_backward_input(dz, &params[layer.weight_range()], da, batch, k, n);
    let da = Disjoint::new(da);
    pool::for_ranges(batch * k, ELEMENTWISE_MIN, &|r| {
        // SAFETY: for_ranges hands every part a range of its own.
        activation_backward(unsafe { da.range(r.clone()) }, &a_act[r], act);
    });
}
