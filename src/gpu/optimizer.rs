//! Optimizer updates over the flat parameter buffer (shaders/optimizer.wgsl).

use bytemuck::{Pod, Zeroable};

use super::context::GpuContext;
use super::kernel::{bindings, grid_1d, shader_module, Kernel};
use crate::error::Result;
use crate::optimizer::{Optimizer, OptimizerKind};

pub const SOURCE: &str = include_str!("../../shaders/optimizer.wgsl");
const WG: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct OptimizerParams {
    pub count: u32,
    pub groups_x: u32,
    pub _pad: [u32; 2],
    pub lr: f32,
    pub momentum: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub c1: f32,
    pub c2: f32,
    pub weight_decay: f32,
    pub decay: f32,
    pub _pad2: [u32; 3],
}

impl OptimizerParams {
    /// Parameters for step `t` (1-based). Adam's bias corrections are computed
    /// here in f32 exactly as cpu/optimizer.rs computes them.
    pub fn new(opt: &Optimizer, count: usize, t: u64) -> Self {
        let t = t.min(i32::MAX as u64) as i32;
        OptimizerParams {
            count: count as u32,
            groups_x: grid_1d(count, WG)[0],
            _pad: [0; 2],
            lr: opt.lr,
            momentum: opt.momentum,
            beta1: opt.beta1,
            beta2: opt.beta2,
            eps: opt.eps,
            c1: 1.0 / (1.0 - opt.beta1.powi(t)),
            c2: 1.0 / (1.0 - opt.beta2.powi(t)),
            weight_decay: opt.weight_decay,
            decay: 1.0 - opt.lr * opt.weight_decay,
            _pad2: [0; 3],
        }
    }

    pub fn workgroups(&self) -> [u32; 3] {
        grid_1d(self.count as usize, WG)
    }
}

/// The update kernel for `kind`. Bindings: params, grads, m, v.
pub fn kernel(ctx: &GpuContext, kind: OptimizerKind) -> Result<Kernel> {
    let module = shader_module(ctx, "optimizer.wgsl", SOURCE)?;
    let entry = match kind {
        OptimizerKind::Sgd => "sgd_update",
        OptimizerKind::Momentum => "momentum_update",
        OptimizerKind::Adam => "adam_update",
        OptimizerKind::AdamW => "adamw_update",
    };
    Ok(Kernel::new::<OptimizerParams>(
        ctx,
        &module,
        entry,
        UpdateBindings::ACCESS,
    ))
}

bindings! {
    /// What an optimizer step reads and writes, all in the flat parameter layout.
    UpdateBindings {
        params: ReadWrite,
        grads: Read,
        /// Momentum's velocity / Adam's first moment (one float where unused).
        m: ReadWrite,
        /// Adam's second moment (one float where unused).
        v: ReadWrite,
    }
}
