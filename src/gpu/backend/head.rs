//! The loss head: softmax and the loss with its gradient at the logits, then the
//! batch's loss and correct count summed into its totals slot.

use super::buffers::{Activations, Kernels, TotalSlots};
use crate::gpu::context::GpuContext;
use crate::gpu::kernel::{Binding, Recorder};
use crate::gpu::loss::{LossBindings, LossParams};
use crate::gpu::totals::{TotalsBindings, TotalsParams};
use crate::network::{Architecture, Loss};

/// Softmax + loss + its gradient at the logits, then the batch's loss and correct
/// count summed into a totals slot.
pub(super) struct LossHead {
    /// The last layer's output (batch×classes), read back only by `predictions`.
    pub(super) logits: wgpu::Buffer,
    loss: Binding,
    batch_totals: Binding,
    kind: Loss,
    classes: usize,
}

impl LossHead {
    pub(super) fn new(
        ctx: &GpuContext,
        arena: &wgpu::Buffer,
        kernels: &Kernels,
        batch: &Activations,
        slots: &TotalSlots,
        arch: &Architecture,
    ) -> Self {
        let last = arch.layers();
        let logits = &batch.acts[last];
        let loss = LossBindings {
            logits,
            labels: &batch.labels,
            dlogits: &batch.dz[last - 1],
            row_loss: &batch.row_loss,
            row_correct: &batch.row_correct,
        };
        let sums = TotalsBindings {
            row_loss: &batch.row_loss,
            row_correct: &batch.row_correct,
            slots: &slots.slots,
        };
        LossHead {
            logits: logits.clone(),
            loss: loss.bind(&kernels.loss, ctx, arena),
            batch_totals: sums.bind(&kernels.totals, ctx, arena),
            kind: arch.loss,
            classes: arch.classes(),
        }
    }

    pub(super) fn record(&self, ctx: &GpuContext, rec: &mut Recorder, len: usize, slot: usize) {
        let p = LossParams::new(len, self.classes, self.kind, len);
        rec.dispatch(ctx, &self.loss, &p, p.workgroups());
        let p = TotalsParams::new(len, slot);
        rec.dispatch(ctx, &self.batch_totals, &p, [1, 1, 1]);
    }
}
