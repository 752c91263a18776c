//! The loss head on the CPU, the twin of shaders/loss.wgsl: softmax with
//! cross-entropy or with the squared error of the probabilities, forward and
//! backward in one pass. Shapes: logits, dlogits: batch×classes.

use super::real::Real;
use crate::backend::argmax;
use crate::network::Loss;

/// Per-batch totals: summed (not averaged) loss and the number of correct argmaxes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossTotals<T> {
    pub loss_sum: T,
    pub correct: usize,
}

/// For each row: p = softmax(z) computed stably (z − max, log-sum-exp), the loss,
/// and dz = ∂(mean loss)/∂z, where the mean is over `divisor` examples.
///
/// Cross-entropy: loss = lse(z) − z_y, dz = (p − onehot)/divisor.
/// MSE: loss = ½‖p − onehot‖², g = p − onehot, dz = p ⊙ (g − ⟨g, p⟩)/divisor
/// (the softmax Jacobian applied to g).
pub fn softmax_loss_forward_backward<T: Real>(
    logits: &[T],
    labels: &[u8],
    classes: usize,
    loss: Loss,
    divisor: usize,
    dlogits: &mut [T],
) -> LossTotals<T> {
    let scale = T::ONE / T::from_f64(divisor as f64);
    let mut totals = LossTotals {
        loss_sum: T::ZERO,
        correct: 0,
    };
    for ((z, dz), &label) in logits
        .chunks_exact(classes)
        .zip(dlogits.chunks_exact_mut(classes))
        .zip(labels)
    {
        let y = label as usize;
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
        match loss {
            Loss::CrossEntropy => {
                totals.loss_sum += sum.ln() + max - z[y];
                dz[y] -= T::ONE;
                for d in dz.iter_mut() {
                    *d *= scale;
                }
            }
            Loss::Mse => {
                let mut l = T::ZERO;
                let mut gp = T::ZERO;
                for (c, &p) in dz.iter().enumerate() {
                    let g = if c == y { p - T::ONE } else { p };
                    l += g * g;
                    gp += g * p;
                }
                totals.loss_sum += T::from_f64(0.5) * l;
                for (c, d) in dz.iter_mut().enumerate() {
                    let p = *d;
                    let g = if c == y { p - T::ONE } else { p };
                    *d = p * (g - gp) * scale;
                }
            }
        }
    }
    totals
}
