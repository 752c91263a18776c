//! Compute kernels and the recorder that batches their dispatches.
//!
//! Every kernel takes its small per-dispatch parameters (shapes, offsets, step
//! constants) from binding 0, a window into one uniform "arena" buffer selected by a
//! dynamic offset. The host writes each dispatch's parameters into the next arena
//! slot while recording, uploads the arena once per submit, and replays all the
//! recorded dispatches in a single compute pass. So a whole chunk of training steps
//! costs one `write_buffer` and one `submit`, with bind groups created once at start.

use std::num::NonZeroU64;
use web_time::Instant;

use bytemuck::Pod;
use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::profile::{Profiler, MAX_TIMED_DISPATCHES};
#[cfg_attr(target_arch = "wasm32", allow(unused_imports))]
use crate::error::{Error, Result};
use crate::profile::KernelTime;

/// Bytes of per-dispatch parameters a kernel may take (the largest struct,
/// `OptimizerParams`, has 48).
pub const PARAMS_SLOT: u64 = 64;

/// What a binding after the parameter uniform (binding 0) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A read-only storage buffer.
    Read,
    /// A read-write storage buffer.
    ReadWrite,
    /// An rgba32float texture read with `textureLoad` (the matmul's texture operands).
    Texture,
    /// An rgba32float storage texture the kernel writes.
    WriteTexture,
}

impl Access {
    fn binding_type(self) -> wgpu::BindingType {
        match self {
            Access::Read | Access::ReadWrite => wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage {
                    read_only: self == Access::Read,
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            // rgba32float is not filterable without an optional feature, and the
            // kernels never sample: they load texels.
            Access::Texture => wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: false },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            Access::WriteTexture => wgpu::BindingType::StorageTexture {
                access: wgpu::StorageTextureAccess::WriteOnly,
                format: wgpu::TextureFormat::Rgba32Float,
                view_dimension: wgpu::TextureViewDimension::D2,
            },
        }
    }
}

pub struct Kernel {
    pub name: &'static str,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    params_size: u64,
}

impl Kernel {
    /// A pipeline for `entry` in `module` whose bindings are the parameter uniform
    /// (binding 0, `P`) followed by storage buffers with the given accesses.
    pub fn new<P: Pod>(
        ctx: &GpuContext,
        module: &wgpu::ShaderModule,
        entry: &'static str,
        storage: &[Access],
    ) -> Self {
        Self::with_constants::<P>(ctx, module, entry, storage, &[])
    }

    /// Like `new`, with values for the shader's `override` constants.
    pub fn with_constants<P: Pod>(
        ctx: &GpuContext,
        module: &wgpu::ShaderModule,
        entry: &'static str,
        storage: &[Access],
        constants: &[(&str, f64)],
    ) -> Self {
        let params_size = std::mem::size_of::<P>() as u64;
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: true,
                min_binding_size: NonZeroU64::new(params_size),
            },
            count: None,
        }];
        for (i, access) in storage.iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: i as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: access.binding_type(),
                count: None,
            });
        }
        let layout = ctx
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(entry),
                entries: &entries,
            });
        let pipeline_layout = ctx
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(entry),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = ctx
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pipeline_layout),
                module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    ..Default::default()
                },
                cache: None,
            });
        Kernel {
            name: entry,
            pipeline,
            layout,
            params_size,
        }
    }

    /// Binds the arena (binding 0) and `buffers` (bindings 1…, whole buffers).
    pub fn bind(
        &self,
        ctx: &GpuContext,
        arena: &wgpu::Buffer,
        buffers: &[&wgpu::Buffer],
    ) -> Binding {
        let resources: Vec<_> = buffers.iter().map(|b| b.as_entire_binding()).collect();
        self.bind_resources(ctx, arena, &resources)
    }

    /// Binds the arena (binding 0) and `resources` (bindings 1…: buffers or texture views).
    pub fn bind_resources(
        &self,
        ctx: &GpuContext,
        arena: &wgpu::Buffer,
        resources: &[wgpu::BindingResource],
    ) -> Binding {
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: arena,
                offset: 0,
                size: NonZeroU64::new(self.params_size),
            }),
        }];
        for (i, r) in resources.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: r.clone(),
            });
        }
        let group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(self.name),
            layout: &self.layout,
            entries: &entries,
        });
        Binding {
            name: self.name,
            pipeline: self.pipeline.clone(),
            group,
            params_size: self.params_size,
        }
    }
}

/// A kernel's storage bindings as a struct of named buffers, declared in the
/// shader's binding order (1, 2, …) with each one's access: the one place on the
/// host that order is written. `ACCESS` lays out the pipeline, `bind` makes the
/// bind group, and a call site names every buffer it binds.
macro_rules! bindings {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident: $access:ident),+ $(,)? }) => {
        $(#[$meta])*
        pub struct $name<'a> {
            $($(#[$fmeta])* pub $field: &'a wgpu::Buffer,)+
        }

        impl $name<'_> {
            /// Each binding's access, in the shader's order.
            pub const ACCESS: &'static [$crate::gpu::kernel::Access] =
                &[$($crate::gpu::kernel::Access::$access),+];

            /// Binds the parameter arena (binding 0) and these buffers for `kernel`.
            pub fn bind(
                &self,
                kernel: &$crate::gpu::kernel::Kernel,
                ctx: &$crate::gpu::context::GpuContext,
                arena: &wgpu::Buffer,
            ) -> $crate::gpu::kernel::Binding {
                kernel.bind(ctx, arena, &[$(self.$field),+])
            }
        }
    };
}
pub(crate) use bindings;

/// A kernel bound to its buffers, ready to dispatch with new parameters.
#[derive(Clone)]
pub struct Binding {
    name: &'static str,
    pipeline: wgpu::ComputePipeline,
    group: wgpu::BindGroup,
    params_size: u64,
}

struct Dispatch {
    binding: Binding,
    offset: u32,
    groups: [u32; 3],
    /// Arithmetic done, for the profile's GFLOP/s (matmuls only).
    flops: f64,
}

/// Records dispatches with their parameters and submits them in chunks.
pub struct Recorder {
    arena: wgpu::Buffer,
    slot: u64,
    capacity: usize,
    staging: Vec<u8>,
    pending: Vec<Dispatch>,
    /// Seconds spent recording dispatches, and submitting them (benchmarks).
    pub record_seconds: f64,
    pub submit_seconds: f64,
    profiler: Option<Profiler>,
}

impl Recorder {
    /// An arena with room for `capacity` dispatches between submits.
    pub fn new(ctx: &GpuContext, capacity: usize) -> Self {
        // Each slot must start at a multiple of the adapter's uniform offset alignment
        // and hold the largest parameter struct.
        let align = ctx.limits.min_uniform_buffer_offset_alignment as u64;
        let slot = PARAMS_SLOT.div_ceil(align) * align;
        let arena = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dispatch parameters"),
            size: slot * capacity as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Recorder {
            arena,
            slot,
            capacity,
            staging: Vec::with_capacity((slot as usize) * capacity),
            pending: Vec::with_capacity(capacity),
            record_seconds: 0.0,
            submit_seconds: 0.0,
            profiler: None,
        }
    }

    /// Times every dispatch from now on; false when the device cannot.
    pub fn enable_profiling(&mut self, ctx: &GpuContext) -> bool {
        self.profiler = Profiler::new(ctx);
        self.profiler.is_some()
    }

    /// GPU time per kernel so far (empty unless profiling).
    pub fn profile(&self) -> Option<&std::collections::BTreeMap<&'static str, KernelTime>> {
        self.profiler.as_ref().map(|p| &p.kernels)
    }

    /// Records a dispatch that does `flops` of arithmetic, for the profile.
    pub fn dispatch_counted<P: Pod>(
        &mut self,
        ctx: &GpuContext,
        binding: &Binding,
        params: &P,
        groups: [u32; 3],
        flops: f64,
    ) {
        self.dispatch(ctx, binding, params, groups);
        if let Some(d) = self.pending.last_mut() {
            d.flops = flops;
        }
    }

    pub fn arena(&self) -> &wgpu::Buffer {
        &self.arena
    }

    /// Records one dispatch of `binding` over `groups` workgroups with `params`.
    pub fn dispatch<P: Pod>(
        &mut self,
        ctx: &GpuContext,
        binding: &Binding,
        params: &P,
        groups: [u32; 3],
    ) {
        // A parameter struct larger than a slot would overrun into the next dispatch's
        // parameters: refused when the program is compiled, for every `P` used.
        const { assert!(std::mem::size_of::<P>() <= PARAMS_SLOT as usize) };
        debug_assert_eq!(std::mem::size_of::<P>() as u64, binding.params_size);
        let limit = match self.profiler {
            Some(_) => self.capacity.min(MAX_TIMED_DISPATCHES),
            None => self.capacity,
        };
        if self.pending.len() == limit {
            self.submit(ctx);
        }
        let started = Instant::now();
        let offset = self.staging.len();
        self.staging.extend_from_slice(bytemuck::bytes_of(params));
        self.staging.resize(offset + self.slot as usize, 0);
        self.pending.push(Dispatch {
            binding: binding.clone(),
            offset: offset as u32,
            groups,
            flops: 0.0,
        });
        self.record_seconds += started.elapsed().as_secs_f64();
    }

    /// Uploads the recorded parameters and submits every recorded dispatch in one
    /// compute pass (wgpu orders dispatches in a pass with the barriers they need).
    pub fn submit(&mut self, ctx: &GpuContext) -> wgpu::SubmissionIndex {
        self.submit_with(ctx, |_| {})
    }

    /// Like `submit`, with extra commands (copies for read-back) after the pass.
    pub fn submit_with(
        &mut self,
        ctx: &GpuContext,
        after: impl FnOnce(&mut wgpu::CommandEncoder),
    ) -> wgpu::SubmissionIndex {
        let started = Instant::now();
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        if !self.pending.is_empty() {
            // The queue runs this write after every earlier submit and before this one,
            // so reusing the arena from offset 0 never disturbs work in flight.
            ctx.queue.write_buffer(&self.arena, 0, &self.staging);
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("gpu-mlp"),
                timestamp_writes: None,
            });
            for (i, d) in self.pending.iter().enumerate() {
                pass.set_pipeline(&d.binding.pipeline);
                pass.set_bind_group(0, &d.binding.group, &[d.offset]);
                if let Some(p) = &self.profiler {
                    p.stamp(&mut pass, i, false);
                }
                pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
                if let Some(p) = &self.profiler {
                    p.stamp(&mut pass, i, true);
                }
            }
        }
        if let Some(p) = &self.profiler {
            p.resolve(&mut enc, self.pending.len());
        }
        after(&mut enc);
        let index = ctx.submit(enc.finish());
        self.submit_seconds += started.elapsed().as_secs_f64();
        self.staging.clear();
        match &mut self.profiler {
            Some(p) => {
                let timed: Vec<(&'static str, f64)> = self
                    .pending
                    .drain(..)
                    .map(|d| (d.binding.name, d.flops))
                    .collect();
                // A profiling run waits here; the error, if any, surfaces at the next wait.
                let _ = p.collect(ctx, &timed);
            }
            None => self.pending.clear(),
        }
        index
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Workgroups for `n` items at `per_group` items each, as an (x, y) grid that keeps
/// x within the 65535 workgroups per dimension every adapter allows.
pub fn grid_1d(n: usize, per_group: usize) -> [u32; 3] {
    const MAX: usize = 65535;
    let groups = n.div_ceil(per_group).max(1);
    if groups <= MAX {
        [groups as u32, 1, 1]
    } else {
        [MAX as u32, groups.div_ceil(MAX) as u32, 1]
    }
}

pub fn storage_buffer(ctx: &GpuContext, label: &str, bytes: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        // Bindings of zero bytes are invalid: keep at least one element.
        size: bytes.max(4).next_multiple_of(4),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

pub fn storage_buffer_init(ctx: &GpuContext, label: &str, contents: &[u8]) -> wgpu::Buffer {
    if contents.is_empty() {
        return storage_buffer(ctx, label, 4);
    }
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        })
}

/// Creates a shader module, turning WGSL errors into an `Error` instead of a panic.
/// (In a browser nothing may wait for the answer: there a compile error surfaces
/// in the error scope the backend's setup awaits.)
pub fn shader_module(ctx: &GpuContext, name: &str, source: &str) -> Result<wgpu::ShaderModule> {
    let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = ctx
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(Error::Gpu(format!("shader {name} failed to compile: {e}")));
    }
    #[cfg(target_arch = "wasm32")]
    let _ = scope;
    Ok(module)
}

/// Runs `kernel` once over fresh buffers holding `buffers` (bindings 1…, in order)
/// and returns what every buffer holds afterwards. For tests and benchmarks of a
/// single kernel; training never goes through here.
pub fn run_once<P: Pod>(
    ctx: &GpuContext,
    kernel: &Kernel,
    params: &P,
    groups: [u32; 3],
    buffers: &[&[u8]],
) -> Result<Vec<Vec<u8>>> {
    let bufs: Vec<wgpu::Buffer> = buffers
        .iter()
        .map(|b| storage_buffer_init(ctx, kernel.name, b))
        .collect();
    let mut rec = Recorder::new(ctx, 1);
    let binding = kernel.bind(ctx, rec.arena(), &bufs.iter().collect::<Vec<_>>());
    rec.dispatch(ctx, &binding, params, groups);
    rec.submit(ctx);
    ctx.wait()?;
    bufs.iter()
        .zip(buffers)
        .map(|(b, init)| {
            let size = (init.len().max(4) as u64).next_multiple_of(4);
            pollster::block_on(ctx.read_buffer(b, size)).map(|mut v| {
                v.truncate(init.len());
                v
            })
        })
        .collect()
}

/// The first `count` floats of `buffer`, read back.
pub async fn read_f32(ctx: &GpuContext, buffer: &wgpu::Buffer, count: usize) -> Result<Vec<f32>> {
    let bytes = ctx.read_buffer(buffer, (count * 4) as u64).await?;
    Ok(bytemuck::pod_collect_to_vec(&bytes))
}
