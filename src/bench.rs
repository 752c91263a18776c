//! `gpu-mlp bench`: training throughput, host overhead, memory and per-kernel GPU
//! time, measured after a warm-up; and `--matmul`, the matmul kernels alone beside
//! the CPU GEMM. Everything here measures; nothing here is asserted.

use std::time::Instant;

use crate::data::{Dataset, Features, Layout, Split, Targets};
use crate::error::{Error, Result};
use crate::network::{train_flops, Architecture};
use crate::profile::{Counters, KernelTime, Measured};
use crate::rng::Rng;
use crate::train::run_epoch;

/// A synthetic training set of `n` random 28×28 images in 10 classes, for
/// benchmarking without data files.
pub fn synthetic_dataset(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let pixels = 28 * 28;
    let split = |rng: &mut Rng, n: usize| Split {
        features: Features::U8((0..n * pixels).map(|_| rng.below(256) as u8).collect()),
        targets: Targets::Classes((0..n).map(|_| rng.below(10) as u32).collect()),
        weights: None,
        width: pixels,
    };
    Dataset {
        dir: format!("<synthetic, {n} examples>").into(),
        train: split(&mut rng, n),
        test: split(&mut rng, n.min(1000)),
        val: None,
        rows: 28,
        cols: 28,
        channels: 1,
        layout: Layout::Planes,
        task: crate::task::Task::Classify,
        classes: 10,
        class_names: None,
        source: None,
    }
}

/// The same examples as a regression onto each label's one-hot vector (10
/// values): the network and its products are the classifier's, only the head
/// differs, so the two time the head's cost side by side.
pub fn as_one_hot_regression(mut ds: Dataset) -> Dataset {
    let classes = ds.classes;
    for split in [&mut ds.train, &mut ds.test] {
        let values = split
            .labels()
            .iter()
            .flat_map(|&l| (0..classes).map(move |c| (c == l as usize) as u8 as f32))
            .collect();
        split.targets = Targets::Values {
            values,
            width: classes,
        };
    }
    ds.task = crate::task::Task::Regress;
    ds
}

/// How long to run: whole epochs, or a number of steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    Steps(usize),
    Epochs(usize),
}

#[derive(Clone, Debug)]
pub struct BenchReport {
    pub steps: usize,
    pub samples: usize,
    pub seconds: f64,
    /// Backend creation (uploads, pipelines) through the first step's completion.
    pub first_step_seconds: f64,
    pub epochs_timed: usize,
    pub counters: Counters,
    /// Exact matmul arithmetic of the timed steps (forward, weight and input gradients).
    pub matmul_flops: f64,
    /// 6 × parameters × samples, the customary estimate (forward + backward).
    pub customary_flops: f64,
    pub profile: Vec<(&'static str, KernelTime)>,
}

impl BenchReport {
    pub fn samples_per_second(&self) -> f64 {
        self.samples as f64 / self.seconds
    }
    pub fn ms_per_step(&self) -> f64 {
        1e3 * self.seconds / self.steps as f64
    }
}

/// Runs `warmup` steps, then `length`, timing only the latter. `make_backend` builds
/// the backend (timed as part of the first step).
#[allow(clippy::too_many_arguments)]
pub fn run(
    make_backend: impl FnOnce() -> Result<Box<dyn Measured>>,
    arch: &Architecture,
    lr: f32,
    n_train: usize,
    batch: usize,
    warmup: usize,
    length: Length,
    profile: bool,
) -> Result<(Box<dyn Measured>, BenchReport)> {
    if n_train < batch {
        return Err(Error::Usage(format!(
            "--batch-size {batch} is larger than the {n_train} training examples"
        )));
    }
    let started = Instant::now();
    let mut backend = make_backend()?;
    let mut steps_run = StepRunner {
        rng: Rng::new(0),
        order: (0..n_train as u32).collect(),
        batch,
        lr,
    };
    // Warm-up: the first step (compiles shaders on lazy drivers), then the rest.
    steps_run.run(backend.as_mut(), 1)?;
    let first_step_seconds = started.elapsed().as_secs_f64();
    steps_run.run(backend.as_mut(), warmup.saturating_sub(1))?;
    let profiled = profile && backend.enable_profiling();
    if profile && !profiled {
        log::warn!("this backend/adapter cannot time kernels (needs TIMESTAMP_QUERY inside passes); no profile");
    }
    let before = backend.counters();
    let steps_per_epoch = n_train.div_ceil(batch);
    let steps = match length {
        Length::Steps(s) => s,
        Length::Epochs(e) => e * steps_per_epoch,
    };
    let t = Instant::now();
    let samples = steps_run.run(backend.as_mut(), steps)?;
    let seconds = t.elapsed().as_secs_f64();
    let full_batches = samples / batch;
    let matmul_flops =
        full_batches as f64 * train_flops(arch, batch) + train_flops(arch, samples % batch);
    let report = BenchReport {
        steps,
        samples,
        seconds,
        first_step_seconds,
        epochs_timed: steps.div_ceil(steps_per_epoch),
        counters: backend.counters() - before,
        matmul_flops,
        customary_flops: 6.0 * arch.param_count() as f64 * samples as f64,
        profile: backend.profile(),
    };
    Ok((backend, report))
}

/// Training steps in shuffled epochs, as many as asked, through the training loop's
/// own epoch routine.
struct StepRunner {
    rng: Rng,
    order: Vec<u32>,
    batch: usize,
    lr: f32,
}

impl StepRunner {
    /// Runs `steps` steps; returns the examples trained on.
    fn run(&mut self, backend: &mut dyn Measured, steps: usize) -> Result<usize> {
        let mut samples = 0;
        let mut done = 0;
        while done < steps {
            self.rng.shuffle(&mut self.order);
            let pass = run_epoch(
                backend,
                &self.order,
                self.batch,
                ..steps - done,
                &|_| self.lr,
                |_, _, _| true,
            )?;
            done += pass.steps;
            samples += pass.samples;
        }
        Ok(samples)
    }
}

/// Peak resident memory of this process (VmHWM), where the OS reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The CPU's measured FP32 peak with the widest FMA it has: every thread runs
/// independent FMA chains (12 accumulators, enough to cover FMA latency on two FMA
/// pipes). Returns GFLOP/s and the instruction set ("AVX-512", "AVX2"); None where
/// neither exists.
pub fn cpu_peak_gflops(threads: usize) -> Option<(f64, &'static str)> {
    #[cfg(target_arch = "x86_64")]
    {
        let (lanes, name) = if is_x86_feature_detected!("avx512f") {
            (16, "AVX-512")
        } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            (8, "AVX2")
        } else {
            return None;
        };
        // The best of three short runs: a burst of load elsewhere on a shared machine
        // lowers one of them, and the peak is what the cores can do.
        const ITERS: u64 = 15_000_000;
        let best = (0..3)
            .map(|_| chains_seconds(threads, lanes, ITERS))
            .fold(f64::INFINITY, f64::min);
        let flops = threads as f64 * ITERS as f64 * 12.0 * lanes as f64 * 2.0;
        Some((flops / best / 1e9, name))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = threads;
        None
    }
}

/// Seconds for `threads` threads to run `iters` rounds of 12 FMA chains `lanes` wide
/// (8 or 16, detected by the caller).
#[cfg(target_arch = "x86_64")]
fn chains_seconds(threads: usize, lanes: usize, iters: u64) -> f64 {
    let t = Instant::now();
    let sum: f32 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                s.spawn(move || {
                    // SAFETY: the caller detected the instruction set.
                    unsafe {
                        match lanes {
                            16 => fma_chains_512(iters, i as f32),
                            _ => fma_chains_256(iters, i as f32),
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
    });
    std::hint::black_box(sum);
    t.elapsed().as_secs_f64()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_chains_256(iters: u64, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let mul = _mm256_set1_ps(0.999_999);
    let add = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_set1_ps(seed); 12];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, mul, add);
        }
    }
    let mut out = [0f32; 8];
    let total = acc
        .iter()
        .fold(_mm256_setzero_ps(), |s, &a| _mm256_add_ps(s, a));
    _mm256_storeu_ps(out.as_mut_ptr(), total);
    out.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_chains_512(iters: u64, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let mul = _mm512_set1_ps(0.999_999);
    let add = _mm512_set1_ps(1e-7);
    let mut acc = [_mm512_set1_ps(seed); 12];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm512_fmadd_ps(*a, mul, add);
        }
    }
    let total = acc
        .iter()
        .fold(_mm512_setzero_ps(), |s, &a| _mm512_add_ps(s, a));
    _mm512_reduce_add_ps(total)
}
