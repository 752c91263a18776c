//! Optimizer updates over the flat parameter array (mirrors shaders/optimizer.wgsl).

use super::real::Real;
use crate::model::{Optimizer, OptimizerKind};

/// Per-parameter optimizer state: momentum's velocity, or Adam's two moments.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState<T> {
    pub m: Vec<T>,
    pub v: Vec<T>,
    /// Steps taken so far (Adam's bias correction uses it).
    pub t: u64,
}

impl<T: Real> OptimizerState<T> {
    pub fn new(opt: &Optimizer, params: usize) -> Self {
        let (m, v) = match opt.kind {
            OptimizerKind::Sgd => (0, 0),
            OptimizerKind::Momentum => (params, 0),
            OptimizerKind::Adam => (params, params),
        };
        OptimizerState {
            m: vec![T::ZERO; m],
            v: vec![T::ZERO; v],
            t: 0,
        }
    }
}

/// One step of `opt` on `params` with gradient `grads`.
pub fn optimizer_update<T: Real>(
    opt: &Optimizer,
    state: &mut OptimizerState<T>,
    params: &mut [T],
    grads: &[T],
) {
    state.t += 1;
    let lr = T::from_f32(opt.lr);
    match opt.kind {
        OptimizerKind::Sgd => {
            for (p, &g) in params.iter_mut().zip(grads) {
                *p -= lr * g;
            }
        }
        OptimizerKind::Momentum => {
            let mu = T::from_f32(opt.momentum);
            for ((p, &g), v) in params.iter_mut().zip(grads).zip(&mut state.m) {
                *v = mu * *v + g;
                *p -= lr * *v;
            }
        }
        OptimizerKind::Adam => {
            let (b1, b2, eps) = (
                T::from_f32(opt.beta1),
                T::from_f32(opt.beta2),
                T::from_f32(opt.eps),
            );
            let t = state.t.min(i32::MAX as u64) as i32;
            // Bias corrections folded into the step size, as the GPU kernel does.
            let c1 = T::ONE / (T::ONE - b1.powi(t));
            let c2 = T::ONE / (T::ONE - b2.powi(t));
            for (((p, &g), m), v) in params
                .iter_mut()
                .zip(grads)
                .zip(&mut state.m)
                .zip(&mut state.v)
            {
                *m = b1 * *m + (T::ONE - b1) * g;
                *v = b2 * *v + (T::ONE - b2) * g * g;
                *p -= lr * (*m * c1) / ((*v * c2).sqrt() + eps);
            }
        }
    }
}
