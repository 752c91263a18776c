//! Bias + activation forward and activation backward (mirrors shaders/activation.wgsl).
//! Derivatives are written in terms of the activation's output `a`, which is what
//! the forward pass keeps: σ' = a(1−a), tanh' = 1−a², relu' = 1 where a > 0, else 0.

use super::real::Real;
use crate::model::Activation;

/// z (m×n) += b, then z = act(z) in place; `act = None` leaves the logits linear.
pub fn bias_activation_forward<T: Real>(z: &mut [T], b: &[T], n: usize, act: Option<Activation>) {
    // One loop per activation, each branch-free inside, so that the compiler
    // vectorises it. (Built for AVX-512 or AVX2 as well, these loops measured no
    // faster: they wait on memory, not on arithmetic.)
    match act {
        None => map_with_bias(z, b, n, |v| v),
        Some(Activation::Sigmoid) => map_with_bias(z, b, n, T::sigmoid),
        Some(a) => map_with_bias(z, b, n, |v| activate(a, v)),
    }
}

#[inline(always)]
fn map_with_bias<T: Real>(z: &mut [T], b: &[T], n: usize, f: impl Fn(T) -> T) {
    for row in z.chunks_exact_mut(n) {
        for (x, &bias) in row.iter_mut().zip(b) {
            *x = f(*x + bias);
        }
    }
}

pub fn activate<T: Real>(act: Activation, x: T) -> T {
    match act {
        Activation::Sigmoid => x.sigmoid(),
        Activation::Relu => {
            if x > T::ZERO {
                x
            } else {
                T::ZERO
            }
        }
        Activation::Tanh => x.tanh(),
    }
}

/// d/dz act(z), from a = act(z).
pub fn derivative_from_output<T: Real>(act: Activation, a: T) -> T {
    match act {
        Activation::Sigmoid => a * (T::ONE - a),
        Activation::Relu => {
            if a > T::ZERO {
                T::ONE
            } else {
                T::ZERO
            }
        }
        Activation::Tanh => T::ONE - a * a,
    }
}

/// dz = da ⊙ act'(a), in place over `da`.
pub fn activation_backward<T: Real>(da: &mut [T], a: &[T], act: Activation) {
    for (g, &y) in da.iter_mut().zip(a) {
        *g *= derivative_from_output(act, y);
    }
}
