//! Bias + activation forward and activation backward (mirrors shaders/activation.wgsl).
//! Derivatives are written in terms of the activation's output `a`, which is what
//! the forward pass keeps: σ' = a(1−a), tanh' = 1−a², relu' = 1 where a > 0, else 0.

use super::real::Real;
use crate::network::Activation;

/// z (m×n) += b, then z = act(z) in place; `act = None` leaves the logits linear.
///
/// Compiled three times, for the build's baseline, AVX2 and AVX-512, and run in the
/// widest the CPU kernel in force allows: the sigmoid's exp is arithmetic-bound, and
/// 16 lanes take it faster than 4. The same operations in the same order in each
/// (Rust never fuses a multiply and an add on its own), so the same bits.
pub fn bias_activation_forward<T: Real>(z: &mut [T], b: &[T], n: usize, act: Option<Activation>) {
    #[cfg(target_arch = "x86_64")]
    {
        use super::kernel::{current, CpuKernel};
        match current() {
            // SAFETY: the avx512 kernel is only in force where the CPU has AVX-512F.
            CpuKernel::Avx512 => return unsafe { bias_activation_forward_avx512(z, b, n, act) },
            CpuKernel::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
                // SAFETY: detected just above.
                return unsafe { bias_activation_forward_avx2(z, b, n, act) };
            }
            _ => {}
        }
    }
    bias_activation_forward_baseline(z, b, n, act)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn bias_activation_forward_avx512<T: Real>(
    z: &mut [T],
    b: &[T],
    n: usize,
    act: Option<Activation>,
) {
    bias_activation_forward_baseline(z, b, n, act)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn bias_activation_forward_avx2<T: Real>(
    z: &mut [T],
    b: &[T],
    n: usize,
    act: Option<Activation>,
) {
    bias_activation_forward_baseline(z, b, n, act)
}

#[inline(always)]
fn bias_activation_forward_baseline<T: Real>(
    z: &mut [T],
    b: &[T],
    n: usize,
    act: Option<Activation>,
) {
    // One loop per activation, each branch-free inside, so that the compiler
    // vectorises it.
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
