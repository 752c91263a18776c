//! The loss head: the task's output kernel (softmax, sigmoid or identity) and
//! its loss with the gradient at the outputs, then the batch's loss and correct
//! count summed into its totals slot.

use super::buffers::{Activations, Kernels, TotalSlots};
use crate::gpu::context::GpuContext;
use crate::gpu::kernel::{Binding, Recorder};
use crate::gpu::loss::{LossBindings, LossParams};
use crate::gpu::totals::{TotalsBindings, TotalsParams};
use crate::network::Architecture;
use crate::task::Head;

/// The head's kernel: loss + its gradient at the outputs, then the batch's loss
/// and correct count summed into a totals slot.
pub(super) struct LossHead {
    /// The last layer's output (batch×outputs), read back only by `outputs`.
    pub(super) logits: wgpu::Buffer,
    loss: Binding,
    batch_totals: Binding,
    head: Head,
    outputs: usize,
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
            targets: &batch.targets,
            pos_weight: &batch.pos_weight,
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
            head: arch.head.clone(),
            outputs: arch.outputs(),
        }
    }

    /// Records the head on a batch of `len` examples whose target words are
    /// `stride` each (`weighted`: the last is the weight), its sums into `slot`.
    pub(super) fn record(
        &self,
        ctx: &GpuContext,
        rec: &mut Recorder,
        len: usize,
        (stride, weighted): (usize, bool),
        slot: usize,
    ) {
        let p = LossParams::new(&self.head, (len, self.outputs), (stride, weighted), len);
        rec.dispatch(ctx, &self.loss, &p, p.workgroups());
        let p = TotalsParams::new(len, slot);
        rec.dispatch(ctx, &self.batch_totals, &p, [1, 1, 1]);
    }
}
