//! The loss heads on the CPU, the twins of shaders/loss.wgsl (same names, same
//! formulas, same order of operations): each computes a batch's losses and their
//! gradient at the outputs in one pass. Shapes: logits, dlogits: batch×outputs.

use super::real::Real;
use crate::backend::{argmax, BatchTargets};
use crate::task::{Head, HeadKernel, Loss};

/// Per-batch totals: summed (not averaged) loss, weighted where the batch is, and
/// the number of examples predicted right.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossTotals<T> {
    pub loss_sum: T,
    pub correct: usize,
}

/// The head's loss of each row and dz = ∂(mean loss)/∂z, where the mean is over
/// `divisor` examples: the kernel `head` runs.
pub fn head_forward_backward<T: Real>(
    head: &Head,
    logits: &[T],
    targets: BatchTargets,
    outputs: usize,
    divisor: usize,
    dlogits: &mut [T],
) -> LossTotals<T> {
    let scale = T::ONE / T::from_f64(divisor as f64);
    match head.task.kernel() {
        HeadKernel::Softmax => {
            softmax_loss_forward_backward(logits, targets, outputs, head.loss, scale, dlogits)
        }
        HeadKernel::Sigmoid => {
            sigmoid_bce_forward_backward(head, logits, targets, outputs, scale, dlogits)
        }
        HeadKernel::Identity => {
            regression_loss_forward_backward(head, logits, targets, outputs, scale, dlogits)
        }
    }
}

/// Softmax, p = softmax(z) computed stably (z − max, log-sum-exp), then
/// cross-entropy: loss = lse(z) − z_y, dz = (p − onehot)·scale;
/// softmax-mse: loss = ½‖p − onehot‖², g = p − onehot, dz = p ⊙ (g − ⟨g, p⟩)·scale
/// (the softmax Jacobian applied to g).
pub fn softmax_loss_forward_backward<T: Real>(
    logits: &[T],
    targets: BatchTargets,
    classes: usize,
    loss: Loss,
    scale: T,
    dlogits: &mut [T],
) -> LossTotals<T> {
    let mut totals = LossTotals {
        loss_sum: T::ZERO,
        correct: 0,
    };
    for (row, (z, dz)) in logits
        .chunks_exact(classes)
        .zip(dlogits.chunks_exact_mut(classes))
        .enumerate()
    {
        let y = targets.word(row, 0) as usize;
        let w = T::from_f32(targets.weight(row, 1));
        let scale = scale * w;
        // The first maximum wins ties, as on the GPU.
        let argmax = argmax(z);
        let max = z[argmax];
        if argmax == y {
            totals.correct += 1;
        }
        let mut sum = T::ZERO;
        for (d, &v) in dz.iter_mut().zip(z) {
            *d = (v - max).exp();
            sum += *d;
        }
        let inv = T::ONE / sum;
        for d in dz.iter_mut() {
            *d *= inv; // dz now holds p
        }
        let row_loss = match loss {
            Loss::SoftmaxMse => {
                let mut l = T::ZERO;
                let mut gp = T::ZERO;
                for (c, &p) in dz.iter().enumerate() {
                    let g = if c == y { p - T::ONE } else { p };
                    l += g * g;
                    gp += g * p;
                }
                for (c, d) in dz.iter_mut().enumerate() {
                    let p = *d;
                    let g = if c == y { p - T::ONE } else { p };
                    *d = p * (g - gp) * scale;
                }
                T::from_f64(0.5) * l
            }
            // Cross-entropy (the only other softmax loss: `Head::check`).
            _ => {
                dz[y] -= T::ONE;
                for d in dz.iter_mut() {
                    *d *= scale;
                }
                sum.ln() + max - z[y]
            }
        };
        totals.loss_sum += row_loss * w;
    }
    totals
}

/// softplus(x) = max(x, 0) + ln(1 + e^−|x|): ln(1 + eˣ) without overflow.
fn softplus<T: Real>(x: T) -> T {
    let (pos, abs) = if x > T::ZERO { (x, x) } else { (T::ZERO, -x) };
    pos + (T::ONE + (-abs).exp()).ln()
}

/// A sigmoid per output with binary cross-entropy from the logit, PyTorch's
/// `BCEWithLogitsLoss`: loss_j = pw·t·softplus(−z) + (1 − t)·softplus(z) (stable
/// for any |z|), dz_j = (pw·t·(σ − 1) + (1 − t)·σ)·scale/outputs; the row's loss
/// is the mean over its outputs, and it is right when every output's decision is.
pub fn sigmoid_bce_forward_backward<T: Real>(
    head: &Head,
    logits: &[T],
    targets: BatchTargets,
    outputs: usize,
    scale: T,
    dlogits: &mut [T],
) -> LossTotals<T> {
    let mut totals = LossTotals {
        loss_sum: T::ZERO,
        correct: 0,
    };
    let per_output = T::ONE / T::from_f64(outputs as f64);
    let threshold = T::from_f32(head.threshold_logit());
    for (row, (z, dz)) in logits
        .chunks_exact(outputs)
        .zip(dlogits.chunks_exact_mut(outputs))
        .enumerate()
    {
        let w = T::from_f32(targets.weight(row, outputs));
        let scale = scale * w * per_output;
        let mut loss = T::ZERO;
        let mut right = true;
        for (j, (&z, d)) in z.iter().zip(dz.iter_mut()).enumerate() {
            let t = T::from_f32(targets.value(row, j));
            let pw = T::from_f32(head.pos_weight_of(j));
            loss += pw * t * softplus(-z) + (T::ONE - t) * softplus(z);
            let s = T::ONE / (T::ONE + (-z).exp());
            *d = (pw * t * (s - T::ONE) + (T::ONE - t) * s) * scale;
            right &= (z > threshold) == (t > T::from_f64(0.5));
        }
        totals.loss_sum += loss * per_output * w;
        totals.correct += right as usize;
    }
    totals
}

/// The outputs as predictions of real values, d = z − t per output: mse ½d²
/// (dz = d), mae |d| (dz = sign d, 0 at 0), huber ½d² where |d| < δ else
/// δ(|d| − ½δ) (dz = clamp(d, −δ, δ)); the row's loss is the mean over its outputs.
pub fn regression_loss_forward_backward<T: Real>(
    head: &Head,
    logits: &[T],
    targets: BatchTargets,
    outputs: usize,
    scale: T,
    dlogits: &mut [T],
) -> LossTotals<T> {
    let mut totals = LossTotals {
        loss_sum: T::ZERO,
        correct: 0,
    };
    let per_output = T::ONE / T::from_f64(outputs as f64);
    let delta = T::from_f32(head.huber_delta);
    let half = T::from_f64(0.5);
    for (row, (z, dz)) in logits
        .chunks_exact(outputs)
        .zip(dlogits.chunks_exact_mut(outputs))
        .enumerate()
    {
        let w = T::from_f32(targets.weight(row, outputs));
        let scale = scale * w * per_output;
        let mut loss = T::ZERO;
        for (j, (&z, g)) in z.iter().zip(dz.iter_mut()).enumerate() {
            let d = z - T::from_f32(targets.value(row, j));
            let abs = if d < T::ZERO { -d } else { d };
            let (l, grad) = match head.loss {
                Loss::Mae => (abs, sign(d)),
                Loss::Huber if abs >= delta => (delta * (abs - half * delta), sign(d) * delta),
                _ => (half * d * d, d),
            };
            loss += l;
            *g = grad * scale;
        }
        totals.loss_sum += loss * per_output * w;
    }
    totals
}

/// −1, 0 or 1, as WGSL's `sign` (and PyTorch's gradient of |d| at 0).
fn sign<T: Real>(x: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else if x < T::ZERO {
        -T::ONE
    } else {
        T::ZERO
    }
}
