//! Where each split lives on the device: resident in storage buffers when it fits
//! one binding, else streamed through a window that the host fills in the order
//! the steps take the examples, so that both give the same batches and the same bits.

use super::buffers::Activations;
use super::{GpuOptions, CHUNK_STEPS};
use crate::backend::{TargetWords, EVAL_BATCH};
use crate::data::{Dataset, Dtype, Split, SplitKind};
use crate::error::{Error, Result};
use crate::gpu::context::GpuContext;
use crate::gpu::gather::{GatherBindings, GatherParams};
use crate::gpu::kernel::{storage_buffer, storage_buffer_init, Binding, Kernel, Recorder};

/// One split on the device, its gather bound twice: through the shuffled order
/// (training) and in sequence (evaluation). A split larger than a storage binding
/// (or the planning budget, `GpuOptions::binding_budget`) is not resident but
/// streamed through a `Window`.
pub(super) struct DeviceSplit {
    shuffled: Binding,
    sequential: Binding,
    pub(super) len: usize,
    width: usize,
    floats: bool,
    /// What the loss head reads of each example (the host's copy, which a
    /// streamed split's windows are filled from).
    targets: TargetWords,
    stream: Option<Window>,
}

/// The part of a streamed split on the device: examples gathered on the host in
/// the order the steps take them, so that every batch, and every bit after it, is
/// what the resident path computes. The host gathers the next window while the
/// device trains on the current one; at most two are in flight.
pub(super) struct Window {
    features: wgpu::Buffer,
    targets: wgpu::Buffer,
    /// Examples the window holds at most.
    capacity: usize,
    /// What it holds: (shuffled, first position, count).
    holds: Option<(bool, usize, usize)>,
    /// The epoch's order (training split), as the host knows it.
    order: Vec<u32>,
    /// The submission that read the previous window, waited for before the next
    /// fill (natively; a browser's queue bounds its own staging).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    in_flight: Option<wgpu::SubmissionIndex>,
}

/// What the splits share on the device: the gather kernel, the training order, a
/// 0, 1, 2, … sequence, the input statistics, the batch it fills.
pub(super) struct SplitBindings<'a> {
    pub(super) gather: &'a Kernel,
    pub(super) order: &'a wgpu::Buffer,
    pub(super) sequence: &'a wgpu::Buffer,
    pub(super) norm: &'a wgpu::Buffer,
    pub(super) batch: &'a Activations,
    /// The head whose targets the splits carry.
    pub(super) head: &'a crate::task::Head,
}

/// The data set's splits on the device.
pub(super) struct DeviceSplits {
    pub(super) train: DeviceSplit,
    test: DeviceSplit,
    val: Option<DeviceSplit>,
}

impl DeviceSplits {
    /// The training, test and (where there is one) validation splits.
    pub(super) fn upload(
        ctx: &GpuContext,
        rec: &Recorder,
        shared: &SplitBindings,
        data: &Dataset,
        plan: &StoragePlan,
    ) -> Result<Self> {
        let bind = |kind: SplitKind, split: &Split| {
            // Only training is weighted: evaluation figures never are.
            let words = TargetWords::new(split, shared.head, kind == SplitKind::Train);
            DeviceSplit::new(ctx, rec, shared, (kind, split, words), plan)
        };
        let val = match &data.val {
            Some(v) => Some(bind(SplitKind::Val, v)?),
            None => None,
        };
        Ok(DeviceSplits {
            train: bind(SplitKind::Train, &data.train)?,
            test: bind(SplitKind::Test, &data.test)?,
            val,
        })
    }

    /// The split that stands for `kind` in `data` (`Dataset::present`: the test
    /// split validates where there is no validation split).
    pub(super) fn get(&mut self, data: &Dataset, kind: SplitKind) -> &mut DeviceSplit {
        match (data.present(kind), &mut self.val) {
            (SplitKind::Train, _) => &mut self.train,
            (SplitKind::Val, Some(val)) => val,
            _ => &mut self.test,
        }
    }
}

impl DeviceSplit {
    pub(super) fn new(
        ctx: &GpuContext,
        rec: &Recorder,
        shared: &SplitBindings,
        (kind, split, words): (SplitKind, &Split, TargetWords),
        plan: &StoragePlan,
    ) -> Result<Self> {
        let name = format!("{kind:?}").to_lowercase();
        let resident =
            plan.holds(split.features.bytes()) && plan.holds(4 * words.words.len() as u64);
        let (features, targets, stream) = match resident {
            true => {
                let (features, targets) = upload(ctx, &name, split, &words);
                (features, targets, None)
            }
            false => {
                let window = Window::new(ctx, &name, split, words.stride, plan)?;
                (
                    window.features.clone(),
                    window.targets.clone(),
                    Some(window),
                )
            }
        };
        let bind = |order: &wgpu::Buffer| {
            let bindings = GatherBindings {
                features: &features,
                targets: &targets,
                order,
                norm: shared.norm,
                x: &shared.batch.acts[0],
                y: &shared.batch.targets,
            };
            bindings.bind(shared.gather, ctx, rec.arena())
        };
        Ok(DeviceSplit {
            // A streamed split's window is always read in sequence.
            shuffled: bind(if stream.is_some() {
                shared.sequence
            } else {
                shared.order
            }),
            sequential: bind(shared.sequence),
            len: split.len(),
            width: split.width,
            floats: split.features.dtype() == Dtype::F32,
            targets: words,
            stream,
        })
    }

    /// Its target words' (stride, weighted), as the loss head reads them.
    pub(super) fn target_layout(&self) -> (usize, bool) {
        (self.targets.stride, self.targets.weighted)
    }

    /// A new epoch's order: a streamed split keeps it to gather windows by.
    pub(super) fn begin_epoch(&mut self, order: &[u32]) {
        if let Some(w) = &mut self.stream {
            w.order.clear();
            w.order.extend_from_slice(order);
            w.holds = None;
        }
    }

    /// Gathers examples `start..start + len` (of the shuffled order, or in sequence)
    /// into the input batch and its labels; a streamed split first brings them into
    /// its window when they are not there.
    pub(super) fn record_gather(
        &mut self,
        ctx: &GpuContext,
        rec: &mut Recorder,
        host: &Split,
        shuffled: bool,
        start: usize,
        len: usize,
    ) -> Result<()> {
        let (binding, first) = match &mut self.stream {
            None if shuffled => (&self.shuffled, 0),
            None => (&self.sequential, 0),
            Some(w) => {
                let first = match w.holds {
                    Some((s, first, count))
                        if s == shuffled && start >= first && start + len <= first + count =>
                    {
                        first
                    }
                    _ => w.fill(ctx, rec, (host, &self.targets), shuffled, start)?,
                };
                (&self.sequential, first)
            }
        };
        let stride = self.targets.stride;
        let p = GatherParams::new(len, self.width, start - first, self.floats, stride);
        rec.dispatch(ctx, binding, &p, p.workgroups());
        Ok(())
    }
}

/// A resident split's features and target words, uploaded once.
fn upload(
    ctx: &GpuContext,
    name: &str,
    split: &Split,
    words: &TargetWords,
) -> (wgpu::Buffer, wgpu::Buffer) {
    let features =
        storage_buffer_init(ctx, &format!("{name} features"), split.features.raw_bytes());
    let targets = storage_buffer_init(
        ctx,
        &format!("{name} targets"),
        bytemuck::cast_slice(&words.words),
    );
    (features, targets)
}

impl Window {
    /// An empty window for a split too large for one binding: as many examples as
    /// one submit's steps take, within the plan's budget.
    fn new(
        ctx: &GpuContext,
        name: &str,
        split: &Split,
        stride: usize,
        plan: &StoragePlan,
    ) -> Result<Self> {
        let row_bytes = split.width * split.features.dtype().size();
        let capacity = plan.window_rows(row_bytes).min(split.len());
        if capacity < plan.batch_rows {
            // Whose limit it is decides what helps: the caller's budget can be
            // raised; the device's cannot, and the evaluation batch is fixed.
            let (limit, advice) = match plan.chosen {
                true => (
                    "the binding budget set (GPU_MLP_BINDING_BUDGET, GpuOptions::binding_budget)",
                    "raise the budget, or use --cpu",
                ),
                false => (
                    "a storage binding of this device",
                    "a smaller --batch-size helps only while it is the larger; use --cpu",
                ),
            };
            return Err(Error::Gpu(format!(
                "one batch of {} examples of {row_bytes} bytes (the larger of --batch-size and the \
                 evaluation batch of {EVAL_BATCH}) exceeds the {} bytes of {limit}; {advice}",
                plan.batch_rows, plan.budget
            )));
        }
        let bytes = (capacity * row_bytes) as u64;
        let features = storage_buffer(ctx, &format!("{name} window"), bytes);
        let targets = storage_buffer(
            ctx,
            &format!("{name} window targets"),
            (4 * capacity * stride) as u64,
        );
        log::info!(
            "the {name} split ({} bytes) exceeds the {} bytes planned per binding: streaming it {capacity} examples at a time",
            split.features.bytes(),
            plan.budget
        );
        Ok(Window {
            features,
            targets,
            capacity,
            holds: None,
            order: Vec::new(),
            in_flight: None,
        })
    }

    /// Uploads the examples at positions `start..` (up to the capacity) and
    /// returns `start`, the position of the window's first example.
    fn fill(
        &mut self,
        ctx: &GpuContext,
        rec: &mut Recorder,
        (host, words): (&Split, &TargetWords),
        shuffled: bool,
        start: usize,
    ) -> Result<usize> {
        let count = self.capacity.min(host.len() - start);
        let positions: Vec<u32> = if shuffled {
            self.order[start..start + count].to_vec()
        } else {
            (start as u32..(start + count) as u32).collect()
        };
        // Recorded work reads the window as it is now: it goes out first. Then wait
        // for the work before it, so that at most two windows are in flight.
        let submitted = rec.submit(ctx);
        // In a browser the queue's own staging bounds this, and nothing may wait.
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(previous) = self.in_flight.replace(submitted) {
            ctx.wait_for(previous)?;
        }
        #[cfg(target_arch = "wasm32")]
        let _ = submitted;
        let part = host.features.select(host.width, &positions);
        let mut bytes = part.raw_bytes().to_vec();
        bytes.resize(bytes.len().next_multiple_of(4), 0);
        ctx.queue.write_buffer(&self.features, 0, &bytes);
        let stride = words.stride;
        let mut targets = Vec::with_capacity(count * stride);
        for &i in &positions {
            let i = i as usize;
            targets.extend_from_slice(&words.words[i * stride..(i + 1) * stride]);
        }
        ctx.queue
            .write_buffer(&self.targets, 0, bytemuck::cast_slice(&targets));
        self.holds = Some((shuffled, start, count));
        Ok(start)
    }
}

/// How much the backend puts in one storage binding: the device's limit, or less
/// when the caller plans with a smaller budget (to test streaming with small data).
pub(super) struct StoragePlan {
    pub(super) budget: u64,
    /// Whether the budget is the caller's (`GpuOptions::binding_budget`), below
    /// the device's limit: a window too small for it is the caller's setting.
    chosen: bool,
    /// Rows of the largest batch, which a window must hold at least.
    batch_rows: usize,
}

impl StoragePlan {
    pub(super) fn new(ctx: &GpuContext, options: &GpuOptions, batch_rows: usize) -> Self {
        let lim = &ctx.limits;
        let device = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
        let budget = options.binding_budget.map_or(device, |b| b.min(device));
        StoragePlan {
            budget,
            chosen: budget < device,
            batch_rows,
        }
    }

    /// Whether `bytes` may stay resident in one binding (the gather's u32 element
    /// indices bound it too).
    pub(super) fn holds(&self, bytes: u64) -> bool {
        bytes <= self.budget && bytes <= u32::MAX as u64
    }

    /// Examples of `row_bytes` per window: what one submit's steps take, within
    /// the budget, so that streaming adds about one upload per submit.
    fn window_rows(&self, row_bytes: usize) -> usize {
        let fit = (self.budget / row_bytes.max(1) as u64).min(u32::MAX as u64) as usize;
        fit.min(CHUNK_STEPS * self.batch_rows)
    }
}
