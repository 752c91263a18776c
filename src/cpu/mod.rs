//! The CPU reference path: the same operations as shaders/, under the same names,
//! in plain Rust over matrixmultiply's GEMM. It is both the `--cpu` fallback and
//! the oracle every GPU result is checked against.

pub mod activation;
pub mod matmul;
pub mod optimizer;
pub mod pool;
pub mod real;
pub mod softmax_xent;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::model::{Architecture, Optimizer};
use crate::train::{argmax, check_order, Backend, KernelTime, SplitKind, Totals, EVAL_BATCH};
use activation::{activation_backward, bias_activation_forward};
use matmul::{bias_backward, matmul_backward_input, matmul_backward_weight, matmul_forward};
use optimizer::{optimizer_update, OptimizerState};
use pool::Disjoint;
pub use real::Real;
use softmax_xent::{softmax_xent_forward_backward, LossTotals};

/// Elementwise loops shorter than this stay on one thread.
const ELEMENTWISE_MIN: usize = 1 << 14;

/// The network's forward and backward pass over preallocated workspaces
/// (no allocation per batch), generic over f32 (training) and f64 (gradient check).
pub struct CpuNet<T> {
    pub arch: Architecture,
    max_batch: usize,
    /// acts[0]: the input batch (batch×in); acts[l+1]: layer l's output after its
    /// activation (the logits for the last layer). Backward reads these.
    acts: Vec<Vec<T>>,
    /// dz[l]: gradient of the mean loss with respect to layer l's pre-activation output.
    dz: Vec<Vec<T>>,
}

impl<T: Real> CpuNet<T> {
    pub fn new(arch: &Architecture, max_batch: usize) -> Self {
        let acts = arch
            .sizes
            .iter()
            .map(|&s| vec![T::ZERO; s * max_batch])
            .collect();
        let dz = arch.sizes[1..]
            .iter()
            .map(|&s| vec![T::ZERO; s * max_batch])
            .collect();
        CpuNet {
            arch: arch.clone(),
            max_batch,
            acts,
            dz,
        }
    }

    /// The input rows (batch×in) to fill before `forward`.
    pub fn input_mut(&mut self, batch: usize) -> &mut [T] {
        &mut self.acts[0][..batch * self.arch.inputs()]
    }

    /// Builds the input batch from examples `indices` of `split`, pixels scaled to [0, 1].
    pub fn gather(&mut self, split: &Split, indices: &[u32]) {
        assert!(indices.len() <= self.max_batch);
        let pixels = split.pixels;
        let x = Disjoint::new(self.input_mut(indices.len()));
        pool::for_ranges(indices.len(), 32, &|rows| {
            // SAFETY: for_ranges hands every part rows of its own.
            let x = unsafe { x.range(rows.start * pixels..rows.end * pixels) };
            let indices = &indices[rows];
            // Examples sit at random places in a data set larger than the caches, and
            // each is too short for the hardware prefetcher to get going: ask for the
            // images a few rows ahead, so that their memory latency overlaps this row's work.
            for &i in indices.iter().take(PREFETCH_ROWS) {
                prefetch(split.image(i as usize));
            }
            for (r, (row, &i)) in x.chunks_exact_mut(pixels).zip(indices).enumerate() {
                if let Some(&ahead) = indices.get(r + PREFETCH_ROWS) {
                    prefetch(split.image(ahead as usize));
                }
                for (v, &b) in row.iter_mut().zip(split.image(i as usize)) {
                    // A multiply by the rounded constant, not a division: the GPU does
                    // the same, so both paths see bit-identical inputs.
                    *v = T::from_f32(b as f32 * (1.0 / 255.0));
                }
            }
        });
    }

    pub fn forward(&mut self, params: &[T], batch: usize) {
        assert!(batch <= self.max_batch);
        let arch = &self.arch;
        for l in 0..arch.layers() {
            let (k, n) = arch.layer_shape(l);
            let w = &params[arch.weight_offset(l)..arch.bias_offset(l)];
            let b = &params[arch.bias_offset(l)..arch.bias_offset(l) + n];
            let (before, after) = self.acts.split_at_mut(l + 1);
            let (a, z) = (&before[l][..batch * k], &mut after[0][..batch * n]);
            matmul_forward(a, w, z, batch, k, n);
            let act = (l + 1 < arch.layers()).then_some(arch.activation);
            let z = Disjoint::new(z);
            pool::for_ranges(batch, ELEMENTWISE_MIN / n.max(1), &|rows| {
                // SAFETY: for_ranges hands every part rows of its own.
                bias_activation_forward(
                    unsafe { z.range(rows.start * n..rows.end * n) },
                    b,
                    n,
                    act,
                );
            });
        }
    }

    pub fn logits(&self, batch: usize) -> &[T] {
        &self.acts[self.arch.layers()][..batch * self.arch.classes()]
    }

    /// Loss and its gradient at the logits, averaged over `batch` examples.
    pub fn loss_backward(&mut self, labels: &[u8], batch: usize) -> LossTotals<T> {
        let l = self.arch.layers();
        let c = self.arch.classes();
        softmax_xent_forward_backward(
            &self.acts[l][..batch * c],
            &labels[..batch],
            c,
            self.arch.loss,
            batch,
            &mut self.dz[l - 1][..batch * c],
        )
    }

    /// Backpropagates from the logits gradient into `grads` (same layout as params).
    pub fn backward(&mut self, params: &[T], grads: &mut [T], batch: usize) {
        let arch = &self.arch;
        for l in (0..arch.layers()).rev() {
            let (k, n) = arch.layer_shape(l);
            let (w_off, b_off) = (arch.weight_offset(l), arch.bias_offset(l));
            let dz = &self.dz[l][..batch * n];
            matmul_backward_weight(
                &self.acts[l][..batch * k],
                dz,
                &mut grads[w_off..b_off],
                batch,
                k,
                n,
            );
            bias_backward(dz, &mut grads[b_off..b_off + n], batch, n);
            if l > 0 {
                let (lower, upper) = self.dz.split_at_mut(l);
                let da = &mut lower[l - 1][..batch * k];
                matmul_backward_input(
                    &upper[0][..batch * n],
                    &params[w_off..b_off],
                    da,
                    batch,
                    k,
                    n,
                );
                let (a, act) = (&self.acts[l][..batch * k], arch.activation);
                let da = Disjoint::new(da);
                pool::for_ranges(batch * k, ELEMENTWISE_MIN, &|r| {
                    // SAFETY: for_ranges hands every part a range of its own.
                    activation_backward(unsafe { da.range(r.clone()) }, &a[r], act);
                });
            }
        }
    }
}

/// `--cpu`: trains on the host with the reference operations.
pub struct CpuBackend {
    data: Arc<Dataset>,
    net: CpuNet<f32>,
    params: Vec<f32>,
    grads: Vec<f32>,
    opt: Optimizer,
    state: OptimizerState<f32>,
    order: Vec<u32>,
    labels: Vec<u8>,
    epoch: Totals,
    /// Time per phase of a step, when `bench --profile` asks.
    profile: Option<BTreeMap<&'static str, KernelTime>>,
}

impl CpuBackend {
    pub fn new(
        data: Arc<Dataset>,
        arch: &Architecture,
        opt: Optimizer,
        params: Vec<f32>,
        batch_size: usize,
    ) -> Self {
        assert_eq!(params.len(), arch.param_count());
        // A batch never holds more than the training set, whatever --batch-size says.
        let batch_size = batch_size.min(data.train.len()).max(1);
        let max_batch = batch_size.max(EVAL_BATCH);
        CpuBackend {
            net: CpuNet::new(arch, max_batch),
            grads: vec![0.0; params.len()],
            state: OptimizerState::new(&opt, params.len()),
            params,
            opt,
            order: Vec::new(),
            labels: vec![0; max_batch],
            epoch: Totals::default(),
            profile: None,
            data,
        }
    }
    /// Runs the forward pass over a whole split in order, `EVAL_BATCH` examples at a
    /// time, handing each batch (network, split, first example, count) to `visit`.
    fn forward_in_order(
        &mut self,
        which: SplitKind,
        mut visit: impl FnMut(&mut CpuNet<f32>, &Split, usize, usize),
    ) {
        let data = Arc::clone(&self.data);
        let split = match which {
            SplitKind::Train => &data.train,
            SplitKind::Test => &data.test,
        };
        let mut indices: Vec<u32> = Vec::with_capacity(EVAL_BATCH);
        for start in (0..split.len()).step_by(EVAL_BATCH) {
            let len = EVAL_BATCH.min(split.len() - start);
            indices.clear();
            indices.extend(start as u32..(start + len) as u32);
            self.net.gather(split, &indices);
            self.net.forward(&self.params, len);
            visit(&mut self.net, split, start, len);
        }
    }
}

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        format!("cpu ({} threads)", cpu_threads())
    }

    fn begin_epoch(&mut self, order: &[u32]) -> Result<()> {
        check_order(order, self.data.train.len())?;
        self.order.clear();
        self.order.extend_from_slice(order);
        self.epoch = Totals::default();
        Ok(())
    }

    fn train_batch(&mut self, start: usize, len: usize) -> Result<()> {
        if len == 0 || len > self.labels.len() || start + len > self.order.len() {
            return Err(Error::Config(format!(
                "a batch of examples {start}..{} does not fit (batch buffers hold {}, the epoch {})",
                start + len,
                self.labels.len(),
                self.order.len()
            )));
        }
        // Phases are timed only when profiling (two clock reads each).
        let mut clock = self.profile.as_ref().map(|_| Instant::now());
        let mut lap = |profile: &mut Option<BTreeMap<&'static str, KernelTime>>,
                       name: &'static str,
                       flops: f64| {
            if let (Some(p), Some(t)) = (profile.as_mut(), clock.as_mut()) {
                let k = p.entry(name).or_default();
                k.calls += 1;
                k.seconds += t.elapsed().as_secs_f64();
                k.flops += flops;
                *t = Instant::now();
            }
        };
        let indices = &self.order[start..start + len];
        let train = &self.data.train;
        self.net.gather(train, indices);
        for (l, &i) in self.labels.iter_mut().zip(indices) {
            *l = train.labels[i as usize];
        }
        lap(&mut self.profile, "gather", 0.0);
        self.net.forward(&self.params, len);
        let arch = &self.net.arch;
        let forward_flops: f64 = (0..arch.layers())
            .map(|l| 2.0 * (arch.sizes[l] * arch.sizes[l + 1] * len) as f64)
            .sum();
        lap(
            &mut self.profile,
            "forward (matmul + bias + activation)",
            forward_flops,
        );
        let t = self.net.loss_backward(&self.labels, len);
        lap(&mut self.profile, "softmax + loss + gradient", 0.0);
        let backward_flops = crate::model::train_flops(&self.net.arch, len) - forward_flops;
        self.net.backward(&self.params, &mut self.grads, len);
        lap(
            &mut self.profile,
            "backward (matmuls + activation')",
            backward_flops,
        );
        optimizer_update(&self.opt, &mut self.state, &mut self.params, &self.grads);
        lap(&mut self.profile, "optimizer update", 0.0);
        self.epoch
            .add(t.loss_sum as f64, t.correct as u64, len as u64);
        Ok(())
    }

    fn enable_profiling(&mut self) -> bool {
        self.profile = Some(BTreeMap::new());
        true
    }

    fn profile(&self) -> Vec<(&'static str, KernelTime)> {
        self.profile
            .iter()
            .flatten()
            .map(|(&k, &v)| (k, v))
            .collect()
    }

    fn end_epoch(&mut self) -> Result<Totals> {
        Ok(self.epoch)
    }

    fn running_totals(&self) -> Option<Totals> {
        Some(self.epoch)
    }

    fn evaluate(&mut self, which: SplitKind) -> Result<Totals> {
        let mut totals = Totals::default();
        self.forward_in_order(which, |net, split, start, len| {
            let t = net.loss_backward(&split.labels[start..start + len], len);
            totals.add(t.loss_sum as f64, t.correct as u64, len as u64);
        });
        Ok(totals)
    }

    fn predictions(&mut self, which: SplitKind) -> Result<Vec<u8>> {
        let classes = self.net.arch.classes();
        let mut out = Vec::new();
        self.forward_in_order(which, |net, _, _, len| {
            out.extend(
                net.logits(len)
                    .chunks_exact(classes)
                    .map(|z| argmax(z) as u8),
            );
        });
        Ok(out)
    }

    fn parameters(&mut self) -> Result<Vec<f32>> {
        Ok(self.params.clone())
    }

    fn optimizer_state(&mut self) -> Result<OptimizerState<f32>> {
        Ok(self.state.clone())
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState<f32>) -> Result<()> {
        let fresh = OptimizerState::<f32>::new(&self.opt, self.params.len());
        if (state.m.len(), state.v.len()) != (fresh.m.len(), fresh.v.len()) {
            return Err(Error::Config(
                "the optimizer state does not fit this optimizer and network".into(),
            ));
        }
        self.state = state.clone();
        Ok(())
    }
}

/// Threads the CPU path uses: `$GPU_MLP_THREADS`, else every core.
pub fn cpu_threads() -> usize {
    pool::configured_threads()
}

/// Bytes the CPU path allocates for `arch` with batches of `batch`: parameters,
/// gradients, optimizer state, and activations plus their gradients.
pub fn memory_needed(arch: &Architecture, opt: &Optimizer, batch: usize) -> u64 {
    let copies = 2
        + u64::from(opt.kind != crate::model::OptimizerKind::Sgd)
        + u64::from(opt.kind == crate::model::OptimizerKind::Adam);
    let acts: u64 =
        arch.sizes.iter().map(|&s| s as u64).sum::<u64>() * 2 * batch.max(EVAL_BATCH) as u64;
    4 * (arch.param_count() as u64 * copies + acts)
}

/// Fails with a clear error, instead of an out-of-memory abort, when `bytes` exceed
/// the memory the OS reports available (Linux; elsewhere nothing is checked).
pub fn check_host_memory(bytes: u64, what: &str) -> Result<()> {
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
        line.split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|kb| kb * 1024)
    });
    match available {
        Some(avail) if bytes > avail => Err(Error::Config(format!(
            "{what} needs about {:.1} GiB of memory, but only {:.1} GiB are available; use smaller --hidden layers or --batch-size",
            bytes as f64 / (1u64 << 30) as f64,
            avail as f64 / (1u64 << 30) as f64
        ))),
        _ => Ok(()),
    }
}

/// Rows of a batch whose images are requested ahead of their conversion.
const PREFETCH_ROWS: usize = 4;

/// Hints the CPU to bring `bytes` into the cache (a no-op off x86-64).
#[inline(always)]
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch only hints the cache; it never faults, and the address
        // is inside `bytes` anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr() as *const i8
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}
