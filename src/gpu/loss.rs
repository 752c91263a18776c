//! The loss head on the GPU (shaders/loss.wgsl): the loss of a batch and its
//! gradient at the logits in one pass. One entry point per head: today softmax
//! with cross-entropy or with the squared error of the probabilities.

use bytemuck::{Pod, Zeroable};

use super::context::GpuContext;
use super::kernel::{bindings, shader_module, Kernel};
use crate::error::Result;
use crate::network::Loss;

pub const SOURCE: &str = include_str!("../../shaders/loss.wgsl");

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct LossParams {
    pub batch: u32,
    pub classes: u32,
    pub loss: u32,
    pub _pad: u32,
    pub scale: f32,
    pub _pad2: [f32; 3],
}

impl LossParams {
    /// Averages the gradient over `divisor` examples, as the CPU reference does.
    pub fn new(batch: usize, classes: usize, loss: Loss, divisor: usize) -> Self {
        LossParams {
            batch: batch as u32,
            classes: classes as u32,
            loss: loss.code(),
            _pad: 0,
            scale: 1.0 / divisor as f32,
            _pad2: [0.0; 3],
        }
    }

    pub fn workgroups(&self) -> [u32; 3] {
        [self.batch.div_ceil(64), 1, 1]
    }
}

bindings! {
    /// What the loss head reads and writes.
    LossBindings {
        /// The last layer's output (batch×classes).
        logits: Read,
        /// The batch's labels (one u32 each).
        labels: Read,
        /// The loss gradient at the logits, averaged over the batch (batch×classes).
        dlogits: ReadWrite,
        /// Each row's loss.
        row_loss: ReadWrite,
        /// Each row's 1 where its argmax is its label, else 0.
        row_correct: ReadWrite,
    }
}

pub fn kernel(ctx: &GpuContext) -> Result<Kernel> {
    let module = shader_module(ctx, "loss.wgsl", SOURCE)?;
    Ok(Kernel::new::<LossParams>(
        ctx,
        &module,
        "softmax_loss_forward_backward",
        LossBindings::ACCESS,
    ))
}
