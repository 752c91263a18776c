//! Column sums for the bias gradient (shaders/reduce.wgsl).

use bytemuck::{Pod, Zeroable};

use super::context::GpuContext;
use super::kernel::{bindings, shader_module, Kernel};
use crate::error::Result;

pub const SOURCE: &str = include_str!("../../shaders/reduce.wgsl");

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ReduceParams {
    pub rows: u32,
    pub cols: u32,
    pub dst_off: u32,
    pub _pad: u32,
}

impl ReduceParams {
    pub fn bias_backward(rows: usize, cols: usize, dst_off: usize) -> Self {
        ReduceParams {
            rows: rows as u32,
            cols: cols as u32,
            dst_off: dst_off as u32,
            _pad: 0,
        }
    }

    pub fn workgroups(&self) -> [u32; 3] {
        [self.cols.div_ceil(64), 1, 1]
    }
}

bindings! {
    /// What the bias gradient reads and writes.
    ReduceBindings {
        /// The gradient at the layer's output (batch×out).
        dz: Read,
        /// The gradients, written at the layer's bias offset.
        grads: ReadWrite,
    }
}

pub fn kernel(ctx: &GpuContext) -> Result<Kernel> {
    let module = shader_module(ctx, "reduce.wgsl", SOURCE)?;
    Ok(Kernel::new::<ReduceParams>(
        ctx,
        &module,
        "bias_backward",
        ReduceBindings::ACCESS,
    ))
}
