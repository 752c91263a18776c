//! The loss heads on the GPU (shaders/loss.wgsl): the loss of a batch and its
//! gradient at the outputs in one pass. One entry point per head kernel (softmax,
//! sigmoid with BCE, identity with a regression loss), sharing one binding layout.

use bytemuck::{Pod, Zeroable};

use super::context::GpuContext;
use super::kernel::{bindings, shader_module, Kernel};
use crate::error::Result;
use crate::task::{Head, HeadKernel};

pub const SOURCE: &str = include_str!("../../shaders/loss.wgsl");

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct LossParams {
    pub batch: u32,
    pub outputs: u32,
    pub loss: u32,
    pub stride: u32,
    pub scale: f32,
    pub huber_delta: f32,
    pub threshold_logit: f32,
    pub weighted: u32,
}

impl LossParams {
    /// A batch of `batch` examples of `outputs` outputs whose target words are
    /// `stride` each (`weighted`: the last is the weight); the gradient averaged
    /// over `divisor` examples, as the CPU reference does.
    pub fn new(
        head: &Head,
        (batch, outputs): (usize, usize),
        (stride, weighted): (usize, bool),
        divisor: usize,
    ) -> Self {
        LossParams {
            batch: batch as u32,
            outputs: outputs as u32,
            loss: head.loss.code(),
            stride: stride as u32,
            scale: 1.0 / divisor as f32,
            huber_delta: head.huber_delta,
            threshold_logit: head.threshold_logit(),
            weighted: weighted as u32,
        }
    }

    pub fn workgroups(&self) -> [u32; 3] {
        [self.batch.div_ceil(64), 1, 1]
    }
}

bindings! {
    /// What the loss head reads and writes.
    LossBindings {
        /// The last layer's output (batch×outputs).
        logits: Read,
        /// The batch's target words (`stride` per example).
        targets: Read,
        /// Each output's positive weight (sigmoid heads).
        pos_weight: Read,
        /// The loss gradient at the outputs, averaged over the batch (batch×outputs).
        dlogits: ReadWrite,
        /// Each row's loss.
        row_loss: ReadWrite,
        /// Each row's 1 where it is predicted right, else 0.
        row_correct: ReadWrite,
    }
}

/// The entry point of a head kernel.
pub fn entry_point(kernel: HeadKernel) -> &'static str {
    match kernel {
        HeadKernel::Softmax => "softmax_loss_forward_backward",
        HeadKernel::Sigmoid => "sigmoid_bce_forward_backward",
        HeadKernel::Identity => "regression_loss_forward_backward",
    }
}

/// The pipeline of `head`'s kernel.
pub fn kernel(ctx: &GpuContext, head: HeadKernel) -> Result<Kernel> {
    let module = shader_module(ctx, "loss.wgsl", SOURCE)?;
    Ok(Kernel::new::<LossParams>(
        ctx,
        &module,
        entry_point(head),
        LossBindings::ACCESS,
    ))
}
