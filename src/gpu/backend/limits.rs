//! What the adapter allows: the matmul variant for it, and the limits the data and
//! the network must fit, checked before anything is allocated so that a run that
//! cannot fit fails at once with the limit's name.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::context::GpuContext;
use crate::gpu::matmul::{MatmulVariant, OperandTexture};
use crate::network::Architecture;
use crate::optimizer::Optimizer;

/// The caller's variant, else the adapter's: textures on CPU adapters unless an
/// operand exceeds the largest texture, then the blocked kernel.
pub(super) fn choose_variant(
    ctx: &GpuContext,
    arch: &Architecture,
    max_batch: usize,
    chosen: Option<MatmulVariant>,
) -> MatmulVariant {
    if let Some(v) = chosen {
        return v;
    }
    let variant = MatmulVariant::for_adapter(&ctx.info);
    if variant == MatmulVariant::Texture && !textures_fit(ctx, arch, max_batch) {
        log::info!(
            "the network's operands exceed {}'s largest texture ({} texels): using the blocked matmul",
            ctx.info.name,
            ctx.limits.max_texture_dimension_2d
        );
        return MatmulVariant::Blocked;
    }
    variant
}

pub(super) fn log_sizes(data: &Dataset, arch: &Architecture, opt: &Optimizer, max_batch: usize) {
    log::debug!(
        "GPU data: train features {} B, test features {} B, parameters {} B (×{} with gradients and optimizer state), \
         activations {} B per layer at most",
        data.train.features.bytes(),
        data.test.features.bytes(),
        4 * arch.param_count(),
        2 + opt.kind.state_arrays(),
        4 * arch.widest() * max_batch,
    );
}

/// Fails early, naming the limit, when the data or network does not fit the device.
pub(super) fn check_limits(
    ctx: &GpuContext,
    data: &Dataset,
    arch: &Architecture,
    batch_size: usize,
    max_batch: usize,
    variant: MatmulVariant,
) -> Result<()> {
    let lim = &ctx.limits;
    let binding = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
    // Each buffer's advice names only what shrinks it.
    let fits = |what: String, bytes: u64, advice: &str| -> Result<()> {
        if bytes > binding {
            return Err(Error::Gpu(format!(
                "{what} takes {bytes} bytes, but {} binds at most {binding} bytes per storage buffer \
                 (max_storage_buffer_binding_size / max_buffer_size); use {advice}, or --cpu",
                ctx.info.name
            )));
        }
        Ok(())
    };
    fits(
        format!("the buffer of {} parameters", arch.param_count()),
        arch.param_count() as u64 * 4,
        "a smaller network",
    )?;
    fits(
        format!(
            "a batch of {max_batch} activations of the widest layer ({})",
            arch.widest()
        ),
        (arch.widest() * max_batch) as u64 * 4,
        "a smaller --batch-size or narrower layers",
    )?;
    // Example indices are u32 in the shader, and so are the sequence and order.
    fits(
        "the training order".into(),
        4 * data.train.len() as u64,
        "--train-limit",
    )?;
    let max_groups = lim.max_compute_workgroups_per_dimension as usize;
    if batch_size > max_groups {
        return Err(Error::Gpu(format!(
            "--batch-size {batch_size} exceeds what {} dispatches in one dimension ({max_groups}); use a smaller batch",
            ctx.info.name
        )));
    }
    if variant == MatmulVariant::Texture && !textures_fit(ctx, arch, max_batch) {
        return Err(Error::Gpu(format!(
            "GPU_MLP_MATMUL=texture keeps every layer's inputs, weights and gradients in textures, \
             here up to {} rows (the batch, or a layer's inputs) and {} texels wide (a quarter of the \
             widest layer), but {} allows {} per side (max_texture_dimension_2d); use a smaller \
             --batch-size or network, or GPU_MLP_MATMUL=blocked",
            max_batch.max(arch.sizes[..arch.layers()].iter().copied().max().unwrap_or(0)),
            arch.widest().div_ceil(4),
            ctx.info.name,
            lim.max_texture_dimension_2d
        )));
    }
    let shared = 2048.max(variant.workgroup_bytes());
    if lim.max_storage_buffers_per_shader_stage < 6
        || lim.max_compute_invocations_per_workgroup < 256
        || lim.max_compute_workgroup_storage_size < shared
    {
        return Err(Error::Gpu(format!(
            "{} offers too little for the kernels (needs 6 storage buffers per stage, 256 invocations \
             and {shared} bytes of workgroup memory per workgroup); use --cpu",
            ctx.info.name
        )));
    }
    Ok(())
}

/// Whether every operand texture of the texture matmul fits the adapter: activations
/// and their gradients (batch × width) and the weights (in × out) of each layer.
fn textures_fit(ctx: &GpuContext, arch: &Architecture, max_batch: usize) -> bool {
    arch.dense_layers().all(|l| {
        let (k, n) = (l.inputs, l.outputs);
        OperandTexture::fits(ctx, max_batch, k)
            && OperandTexture::fits(ctx, max_batch, n)
            && OperandTexture::fits(ctx, k, n)
    })
}
