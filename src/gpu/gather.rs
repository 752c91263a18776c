//! Batch gather from the GPU-resident data set (shaders/gather.wgsl).

use bytemuck::{Pod, Zeroable};

use super::context::GpuContext;
use super::kernel::{shader_module, Access, Kernel};
use crate::error::Result;

pub const SOURCE: &str = include_str!("../../shaders/gather.wgsl");

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GatherParams {
    pub batch: u32,
    pub pixels: u32,
    pub start: u32,
    pub _pad: u32,
}

impl GatherParams {
    pub fn new(batch: usize, pixels: usize, start: usize) -> Self {
        GatherParams {
            batch: batch as u32,
            pixels: pixels as u32,
            start: start as u32,
            _pad: 0,
        }
    }

    pub fn workgroups(&self) -> [u32; 3] {
        [self.pixels.div_ceil(64), self.batch, 1]
    }
}

/// Bindings: images (packed u8), labels, order, x, y.
pub fn kernel(ctx: &GpuContext) -> Result<Kernel> {
    let module = shader_module(ctx, "gather.wgsl", SOURCE)?;
    Ok(Kernel::new::<GatherParams>(
        ctx,
        &module,
        "gather_batch",
        &[
            Access::Read,
            Access::Read,
            Access::Read,
            Access::ReadWrite,
            Access::ReadWrite,
        ],
    ))
}
