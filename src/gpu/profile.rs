//! Per-kernel GPU time from timestamp queries written inside the compute pass,
//! before and after every dispatch (needs TIMESTAMP_QUERY_INSIDE_PASSES). Profiling
//! reads the timestamps back after every submit, so it slows the run it measures:
//! use its shares, and take throughput from an unprofiled run.

use std::collections::BTreeMap;

use super::context::GpuContext;
use crate::error::Result;

/// Dispatches timed per submit at most (two queries each, wgpu's query-set limit is 4096).
pub const MAX_TIMED_DISPATCHES: usize = (wgpu::QUERY_SET_MAX_QUERIES / 2) as usize;

use crate::profile::KernelTime;

pub struct Profiler {
    queries: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    period_ns: f64,
    pub kernels: BTreeMap<&'static str, KernelTime>,
}

impl Profiler {
    /// None when the device cannot time inside passes.
    pub fn new(ctx: &GpuContext) -> Option<Self> {
        let needed =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
        if !ctx.device.features().contains(needed) {
            return None;
        }
        let count = 2 * MAX_TIMED_DISPATCHES as u32;
        let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("kernel timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let resolved = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("resolved timestamps"),
            size: count as u64 * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Some(Profiler {
            queries,
            resolved,
            period_ns: ctx.queue.get_timestamp_period() as f64,
            kernels: BTreeMap::new(),
        })
    }

    /// Writes the timestamp before (`end = false`) or after dispatch `i`.
    pub fn stamp(&self, pass: &mut wgpu::ComputePass<'_>, i: usize, end: bool) {
        pass.write_timestamp(&self.queries, 2 * i as u32 + u32::from(end));
    }

    pub fn resolve(&self, enc: &mut wgpu::CommandEncoder, dispatches: usize) {
        enc.resolve_query_set(&self.queries, 0..2 * dispatches as u32, &self.resolved, 0);
    }

    /// Reads the timestamps of the submitted dispatches and adds them up per kernel.
    pub fn collect(&mut self, ctx: &GpuContext, dispatches: &[(&'static str, f64)]) -> Result<()> {
        if dispatches.is_empty() {
            return Ok(());
        }
        let bytes =
            pollster::block_on(ctx.read_buffer(&self.resolved, 16 * dispatches.len() as u64))?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        for (i, &(name, flops)) in dispatches.iter().enumerate() {
            let dt = ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * self.period_ns * 1e-9;
            let k = self.kernels.entry(name).or_default();
            k.calls += 1;
            k.seconds += dt;
            k.flops += flops;
        }
        Ok(())
    }
}
