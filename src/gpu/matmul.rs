//! Matmul forward and backward on the GPU (shaders/matmul.wgsl, with the fused
//! activation epilogues from shaders/activation.wgsl). Shapes as in cpu/matmul.rs:
//! a: m×k (batch×in), w: k×n (in×out), z: m×n, row-major.

use bytemuck::{Pod, Zeroable};

use super::context::GpuContext;
use super::kernel::{run_once, shader_module, Access, Kernel};
use crate::error::Result;

pub const SOURCE: &str = concat!(
    include_str!("../../shaders/activation.wgsl"),
    include_str!("../../shaders/matmul.wgsl")
);

/// Outputs per workgroup along each axis (8×8 invocations × 8×8 outputs each).
const TILE: usize = 64;

/// `MatmulParams` in matmul.wgsl: C (m×n) = A (m×k) · B (k×n) through strides.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct MatmulParams {
    pub m: u32,
    pub k: u32,
    pub n: u32,
    pub act: u32,
    pub a_off: u32,
    pub a_row: u32,
    pub a_col: u32,
    pub b_off: u32,
    pub b_row: u32,
    pub b_col: u32,
    pub c_off: u32,
    pub aux_off: u32,
}

impl MatmulParams {
    /// z (m×n) = act(a (m×k) · w (k×n) + bias); `act` 0 leaves it linear.
    pub fn forward(m: usize, k: usize, n: usize, w_off: usize, bias_off: usize, act: u32) -> Self {
        MatmulParams {
            m: m as u32,
            k: k as u32,
            n: n as u32,
            act,
            a_off: 0,
            a_row: k as u32,
            a_col: 1,
            b_off: w_off as u32,
            b_row: n as u32,
            b_col: 1,
            c_off: 0,
            aux_off: bias_off as u32,
        }
    }

    /// dw (k×n) = aᵀ · dz for a: batch×k, dz: batch×n, written at `dw_off`.
    pub fn backward_weight(batch: usize, k: usize, n: usize, dw_off: usize) -> Self {
        MatmulParams {
            m: k as u32,
            k: batch as u32,
            n: n as u32,
            act: 0,
            a_off: 0,
            a_row: 1,
            a_col: k as u32,
            b_off: 0,
            b_row: n as u32,
            b_col: 1,
            c_off: dw_off as u32,
            aux_off: 0,
        }
    }

    /// da (batch×k) = (dz · wᵀ) ⊙ act'(a) for dz: batch×n, w: k×n at `w_off`.
    pub fn backward_input(batch: usize, k: usize, n: usize, w_off: usize, act: u32) -> Self {
        MatmulParams {
            m: batch as u32,
            k: n as u32,
            n: k as u32,
            act,
            a_off: 0,
            a_row: n as u32,
            a_col: 1,
            b_off: w_off as u32,
            b_row: 1,
            b_col: n as u32,
            c_off: 0,
            aux_off: 0,
        }
    }

    pub fn workgroups(&self) -> [u32; 3] {
        [
            (self.n as usize).div_ceil(TILE) as u32,
            (self.m as usize).div_ceil(TILE) as u32,
            1,
        ]
    }

    /// Workgroups for `matmul_reference` (16×16 invocations, one output each).
    pub fn reference_workgroups(&self) -> [u32; 3] {
        [self.n.div_ceil(16), self.m.div_ceil(16), 1]
    }

    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.k as f64 * self.n as f64
    }
}

/// Bindings of every matmul entry point: a, b, c, aux.
const BINDINGS: [Access; 4] = [Access::Read, Access::Read, Access::ReadWrite, Access::Read];

/// Which tiling of the matmul kernels to run (shaders/matmul.wgsl says how each works).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulVariant {
    /// 8×8 outputs per invocation from registers, no workgroup memory.
    Blocked,
    /// 4×4 outputs per invocation over 64×16 tiles staged in workgroup memory.
    Tiled,
}

impl MatmulVariant {
    /// `$GPU_MLP_MATMUL` (`blocked` or `tiled`) if set, else by adapter: the blocked
    /// kernel on CPU adapters (lavapipe: measured 2–3× faster there, see the README),
    /// the tiled one on real GPUs, where staging in workgroup memory is the standard
    /// win (not yet measured by this project on one: see the README).
    pub fn for_adapter(info: &wgpu::AdapterInfo) -> Result<Self> {
        match std::env::var("GPU_MLP_MATMUL").as_deref() {
            Ok("blocked") => Ok(MatmulVariant::Blocked),
            Ok("tiled") => Ok(MatmulVariant::Tiled),
            Ok(other) => Err(crate::error::Error::Config(format!(
                "$GPU_MLP_MATMUL={other:?}: expected blocked or tiled"
            ))),
            Err(_) if info.device_type == wgpu::DeviceType::Cpu => Ok(MatmulVariant::Blocked),
            Err(_) => Ok(MatmulVariant::Tiled),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MatmulVariant::Blocked => "blocked",
            MatmulVariant::Tiled => "tiled",
        }
    }

    /// Workgroup memory the variant needs, in bytes.
    pub fn workgroup_bytes(self) -> u32 {
        match self {
            MatmulVariant::Blocked => 0,
            MatmulVariant::Tiled => 8192,
        }
    }
}

/// The three entry points of one variant.
pub struct MatmulKernels {
    pub forward: Kernel,
    pub backward_weight: Kernel,
    pub backward_input: Kernel,
    /// One output per invocation, no epilogue: the oracle and the baseline.
    pub reference: Kernel,
}

impl MatmulKernels {
    /// The register-blocked kernels (and the reference).
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        Self::variant(ctx, MatmulVariant::Blocked)
    }

    pub fn variant(ctx: &GpuContext, variant: MatmulVariant) -> Result<Self> {
        let module = shader_module(ctx, "matmul.wgsl", SOURCE)?;
        let [forward, backward_weight, backward_input] = match variant {
            MatmulVariant::Blocked => [
                "matmul_forward",
                "matmul_backward_weight",
                "matmul_backward_input",
            ],
            MatmulVariant::Tiled => [
                "matmul_forward_tiled",
                "matmul_backward_weight_tiled",
                "matmul_backward_input_tiled",
            ],
        };
        Ok(MatmulKernels {
            forward: Kernel::new::<MatmulParams>(ctx, &module, forward, &BINDINGS),
            backward_weight: Kernel::new::<MatmulParams>(ctx, &module, backward_weight, &BINDINGS),
            backward_input: Kernel::new::<MatmulParams>(ctx, &module, backward_input, &BINDINGS),
            reference: Kernel::new::<MatmulParams>(ctx, &module, "matmul_reference", &BINDINGS),
        })
    }
}

/// Runs one matmul entry point on host data and returns C (m×n) — for tests and
/// the matmul benchmark. `aux` is the bias (forward) or the activations (backward_input).
pub fn run(
    ctx: &GpuContext,
    kernel: &Kernel,
    params: &MatmulParams,
    a: &[f32],
    b: &[f32],
    aux: &[f32],
) -> Result<Vec<f32>> {
    let c = vec![0.0f32; params.c_off as usize + (params.m * params.n) as usize];
    let groups = if kernel.name == "matmul_reference" {
        params.reference_workgroups()
    } else {
        params.workgroups()
    };
    let out = run_once(
        ctx,
        kernel,
        params,
        groups,
        &[
            bytemuck::cast_slice(a),
            bytemuck::cast_slice(b),
            bytemuck::cast_slice(&c),
            bytemuck::cast_slice(aux),
        ],
    )?;
    let c: Vec<f32> = bytemuck::pod_collect_to_vec(&out[2]);
    Ok(c[params.c_off as usize..].to_vec())
}

/// Seconds per dispatch of `kernel` over `groups`, on random operands sized for
/// `params`: after a warm-up dispatch (lazy drivers compile then), `reps` dispatches
/// in one submit, timed from submit to completion. For the matmul benchmark.
pub fn seconds_per_dispatch(
    ctx: &GpuContext,
    kernel: &Kernel,
    params: &MatmulParams,
    groups: [u32; 3],
    reps: usize,
) -> Result<f64> {
    use super::kernel::storage_buffer_init;
    let mut rng = crate::rng::Rng::new(1);
    let mut random =
        |n: usize| -> Vec<f32> { (0..n.max(1)).map(|_| rng.next_f64() as f32 - 0.5).collect() };
    let (m, k, n) = (params.m as usize, params.k as usize, params.n as usize);
    let a = storage_buffer_init(
        ctx,
        "a",
        bytemuck::cast_slice(&random(params.a_off as usize + m * k)),
    );
    let b = storage_buffer_init(
        ctx,
        "b",
        bytemuck::cast_slice(&random(params.b_off as usize + k * n)),
    );
    let aux = storage_buffer_init(
        ctx,
        "aux",
        bytemuck::cast_slice(&random(params.aux_off as usize + m * n)),
    );
    let c = storage_buffer_init(
        ctx,
        "c",
        bytemuck::cast_slice(&vec![0.0f32; params.c_off as usize + m * n]),
    );
    let mut rec = super::kernel::Recorder::new(ctx, reps.max(1));
    let binding = kernel.bind(ctx, rec.arena(), &[&a, &b, &c, &aux]);
    rec.dispatch(ctx, &binding, params, groups);
    rec.submit(ctx);
    ctx.wait()?;
    for _ in 0..reps {
        rec.dispatch(ctx, &binding, params, groups);
    }
    let t = std::time::Instant::now();
    rec.submit(ctx);
    ctx.wait()?;
    Ok(t.elapsed().as_secs_f64() / reps.max(1) as f64)
}
