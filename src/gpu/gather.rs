//! Batch gather from the data set (or a window of it) on the GPU (shaders/gather.wgsl).

use bytemuck::{Pod, Zeroable};

use super::context::GpuContext;
use super::kernel::{bindings, shader_module, Kernel};
use crate::error::Result;

pub const SOURCE: &str = include_str!("../../shaders/gather.wgsl");

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GatherParams {
    pub batch: u32,
    pub width: u32,
    pub start: u32,
    pub floats: u32,
    pub stride: u32,
    pub _pad: [u32; 3],
}

impl GatherParams {
    /// `stride`: the target words per example (`backend::TargetWords`).
    pub fn new(batch: usize, width: usize, start: usize, floats: bool, stride: usize) -> Self {
        GatherParams {
            batch: batch as u32,
            width: width as u32,
            start: start as u32,
            floats: floats as u32,
            stride: stride as u32,
            _pad: [0; 3],
        }
    }

    /// One invocation per feature, or per target word where a row has more.
    pub fn workgroups(&self) -> [u32; 3] {
        [self.width.max(self.stride).div_ceil(64), self.batch, 1]
    }
}

bindings! {
    /// What the gather reads and writes.
    GatherBindings {
        /// A split's (or its window's) features: u8 packed four per u32, or f32 bits.
        features: Read,
        /// Its target words (`stride` per example).
        targets: Read,
        /// The example indices in batch order (the epoch's shuffle, or 0, 1, 2, …).
        order: Read,
        /// The input statistics: every feature's shift, then every scale.
        norm: Read,
        /// The input batch (batch×features), (x − shift)·scale.
        x: ReadWrite,
        /// The batch's target words.
        y: ReadWrite,
    }
}

pub fn kernel(ctx: &GpuContext) -> Result<Kernel> {
    let module = shader_module(ctx, "gather.wgsl", SOURCE)?;
    Ok(Kernel::new::<GatherParams>(
        ctx,
        &module,
        "gather_batch",
        GatherBindings::ACCESS,
    ))
}
