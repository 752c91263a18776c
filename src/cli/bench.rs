//! `gpu-mlp bench`: training throughput and per-kernel profiles, or one matmul.

use std::sync::Arc;

use clap::Args;

use super::{
    describe_run, gpu_options_from_env, load_data, make_backend, DataArgs, DeviceArgs, NetworkArgs,
};
use gpu_mlp::bench::{self, BenchReport, Length};
use gpu_mlp::choice::Choice;
use gpu_mlp::cpu::cpu_threads;
use gpu_mlp::gpu::matmul::{
    seconds_per_product, small_tile_pays, MatmulKernels, MatmulParams, MatmulVariant, Product,
};
use gpu_mlp::gpu::{GpuContext, GpuOptions};
use gpu_mlp::task::Task;
use gpu_mlp::Error;

#[derive(Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    pub(crate) device: DeviceArgs,
    #[command(flatten)]
    pub(crate) data: DataArgs,
    #[command(flatten)]
    pub(crate) net: NetworkArgs,
    /// Time N training steps after the warm-up [default: one epoch].
    #[arg(
        help_heading = "Benchmark",
        long,
        value_name = "N",
        conflicts_with = "epochs"
    )]
    pub(crate) steps: Option<usize>,
    /// Time N whole epochs after the warm-up.
    #[arg(help_heading = "Benchmark", long, value_name = "N")]
    pub(crate) epochs: Option<usize>,
    /// Untimed steps first (the first one also compiles shaders on lazy drivers).
    #[arg(
        help_heading = "Benchmark",
        long,
        default_value_t = 20,
        value_name = "N"
    )]
    pub(crate) warmup: usize,
    /// Benchmark on N random 28×28 examples instead of data files.
    #[arg(
        help_heading = "Benchmark",
        long,
        value_name = "N",
        conflicts_with = "data"
    )]
    pub(crate) synthetic: Option<usize>,
    /// GPU: time every kernel with timestamp queries and print a table.
    #[arg(help_heading = "Benchmark", long)]
    pub(crate) profile: bool,
    /// Time one matmul C = A·B of this shape instead of training: the GPU kernels
    /// (every variant, the texture one with and without its packs, and the simple
    /// kernel) and the CPU GEMM.
    #[arg(help_heading = "Benchmark", long, value_name = "M,K,N", value_parser = parse_shape)]
    pub(crate) matmul: Option<[usize; 3]>,
}

pub(crate) fn run_bench(mut args: BenchArgs) -> Result<(), Error> {
    args.device = args.device.resolved(false);
    let opt = args.net.optimizer()?;
    if let Some(shape) = &args.matmul {
        return bench_matmul(&args.device, shape);
    }
    if args.steps == Some(0) || args.epochs == Some(0) {
        return Err(Error::Usage(
            "--steps and --epochs must be at least 1".into(),
        ));
    }
    let dataset = match args.synthetic {
        Some(0) => return Err(Error::Usage("--synthetic must be at least 1".into())),
        Some(n) => {
            // 784 pixels and a label per example, and up to 1000 more for the test split.
            let bytes = (n as u128 + 1000) * 785;
            let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
            gpu_mlp::files::check_host_memory(bytes, &format!("--synthetic {n}"))?;
            let ds = bench::synthetic_dataset(n, args.net.seed());
            match args.data.task {
                None | Some(Task::Classify) => ds,
                Some(Task::Regress) => bench::as_one_hot_regression(ds),
                Some(task) => ds.with_task(task)?,
            }
        }
        None => load_data(&args.data, None, args.net.classes, args.net.seed())?,
    };
    let setup = args
        .net
        .trainer(opt, &args.device, &dataset)?
        .fresh_setup(&dataset)?;
    let dataset = Arc::new(dataset);
    let length = match (args.steps, args.epochs) {
        (Some(s), _) => Length::Steps(s),
        (None, Some(e)) => Length::Epochs(e),
        (None, None) => Length::Epochs(1),
    };
    let (arch, batch) = (setup.arch.clone(), setup.batch_size);
    let lr = setup.opt.lr;
    let (backend, r) = bench::run(
        || make_backend(&args.device, &dataset, setup),
        &arch,
        lr,
        dataset.train.len(),
        batch,
        args.warmup.max(1),
        length,
        args.profile,
    )?;
    say!(
        "{}",
        describe_run(&dataset, &arch, &opt, batch, &backend.describe())
    );
    print_report(
        &r,
        args.warmup.max(1),
        args.device.cpu,
        dataset.train.len().div_ceil(batch),
    );
    if !r.profile.is_empty() {
        print_profile(&r.profile);
    }
    Ok(())
}

/// The measurements of one `bench` run; `steps_per_epoch` for the host-traffic line.
fn print_report(r: &BenchReport, warmup: usize, cpu: bool, steps_per_epoch: usize) {
    say!(
        "timed {} steps ({} samples, {} epoch pass{}) after {} warm-up steps",
        r.steps,
        r.samples,
        r.epochs_timed,
        if r.epochs_timed == 1 { "" } else { "es" },
        warmup
    );
    say!("samples/s        {:.0}", r.samples_per_second());
    say!("ms per step      {:.3}", r.ms_per_step());
    say!(
        "GFLOP/s          {:.1} (matmul arithmetic actually done: forward, weight and input gradients, none for the input layer)",
        r.matmul_flops / r.seconds / 1e9
    );
    say!(
        "GFLOP/s (6·P·N)  {:.1} (the customary 6 × parameters × samples estimate of forward + backward)",
        r.customary_flops / r.seconds / 1e9
    );
    say!(
        "time to 1st step {:.3} s (backend setup, uploads, pipelines, first step)",
        r.first_step_seconds
    );
    match bench::peak_rss_bytes() {
        Some(b) => say!(
            "peak memory      {:.1} MiB (process peak RSS, data set included)",
            b as f64 / 1048576.0
        ),
        None => say!("peak memory      n/a on this OS"),
    }
    if cpu {
        let threads = cpu_threads();
        match bench::cpu_peak_gflops(threads) {
            Some((peak, isa)) => say!(
                "CPU FP32 peak    {peak:.1} GFLOP/s measured ({threads} threads of {isa} FMA chains); this run: {:.0} % of it",
                100.0 * r.matmul_flops / r.seconds / 1e9 / peak
            ),
            None => say!("CPU FP32 peak    n/a (needs x86-64 with AVX2 and FMA, or AVX-512)"),
        }
    } else {
        let c = &r.counters;
        say!(
            "host             {:.1} µs per step recording dispatches ({:.2} % of the time); {:.1} % inside write_buffer+encode+submit",
            1e6 * c.record_seconds / r.steps as f64,
            100.0 * c.record_seconds / r.seconds,
            100.0 * c.submit_seconds / r.seconds
        );
        say!(
            "                 {} submits, {} read-backs in {} epoch pass{} of {} steps each",
            r.counters.submits,
            r.counters.readbacks,
            r.epochs_timed,
            if r.epochs_timed == 1 { "" } else { "es" },
            steps_per_epoch,
        );
    }
    if !r.profile.is_empty() {
        print_profile(&r.profile);
    }
}

pub(crate) fn print_profile(profile: &[(&'static str, gpu_mlp::profile::KernelTime)]) {
    let total: f64 = profile.iter().map(|(_, k)| k.seconds).sum();
    let mut rows = profile.to_vec();
    rows.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds));
    say!("\ntime per kernel (GPU: timestamp queries, and profiling waits after every submit; CPU: wall time per phase):");
    say!(
        "{:<38} {:>8} {:>11} {:>7} {:>9}",
        "kernel",
        "calls",
        "total ms",
        "share",
        "GFLOP/s"
    );
    for (name, k) in rows {
        let gflops = if k.flops > 0.0 {
            format!("{:.2}", k.flops / k.seconds / 1e9)
        } else {
            "".into()
        };
        say!(
            "{:<38} {:>8} {:>11.2} {:>6.1}% {:>9}",
            name,
            k.calls,
            1e3 * k.seconds,
            100.0 * k.seconds / total,
            gflops
        );
    }
    say!("{:<38} {:>8} {:>11.2}", "total", "", 1e3 * total);
}

/// "M,K,N" → [M, K, N], each at least 1.
pub(crate) fn parse_shape(s: &str) -> Result<[usize; 3], String> {
    let parts: Vec<usize> = s
        .split(',')
        .map(|p| p.trim().parse::<usize>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match parts[..] {
        [m, k, n] if m > 0 && k > 0 && n > 0 => Ok([m, k, n]),
        _ => Err("expected three sizes of at least 1, as M,K,N".into()),
    }
}

pub(crate) fn bench_matmul(device: &DeviceArgs, &[m, k, n]: &[usize; 3]) -> Result<(), Error> {
    let operand_bytes = check_matmul_shape(m, k, n)?;
    let flops = 2.0 * m as f64 * k as f64 * n as f64;
    say!(
        "matmul C ({m}×{n}) = A ({m}×{k}) · B ({k}×{n}), {:.3} GFLOP per product",
        flops / 1e9
    );
    let cpu_s = time_cpu_gemm(m, k, n);
    let peak = match bench::cpu_peak_gflops(cpu_threads()) {
        Some((peak, isa)) => format!(
            " = {:.0} % of the {isa} peak ({peak:.0})",
            100.0 * flops / cpu_s / 1e9 / peak
        ),
        None => String::new(),
    };
    say!(
        "{:<44} {:>10.3} ms {:>9.2} GFLOP/s{peak}",
        format!(
            "cpu gemm ({} threads, {} kernel)",
            cpu_threads(),
            gpu_mlp::cpu::kernel::current().name()
        ),
        1e3 * cpu_s,
        flops / cpu_s / 1e9
    );
    if device.cpu {
        return Ok(());
    }
    let ctx = GpuContext::new(device.backend, device.adapter.as_deref())?;
    say!("adapter {}", ctx.describe());
    let binding = ctx.limits.max_storage_buffer_binding_size;
    if let Some(&largest) = operand_bytes.iter().filter(|&&b| b > binding).max() {
        return Err(Error::Gpu(format!(
            "--matmul: an operand of {largest} bytes exceeds what {} binds ({binding} bytes)",
            ctx.info.name
        )));
    }
    let options = gpu_options_from_env()?;
    let ratios = time_gpu_variants(&ctx, &options, MatmulParams::forward(m, k, n, 0, 0, 0))?;
    say!(
        "speed-up over the simple kernel: {}; training uses {} on this adapter",
        ratios.join(", "),
        options
            .matmul
            .unwrap_or(MatmulVariant::for_adapter(&ctx.info))
            .name()
    );
    Ok(())
}

/// The bytes of A, B and C, after checking that each fits the kernels' u32 indices
/// and that the host can hold all of them (twice: the GPU timing keeps copies).
fn check_matmul_shape(m: usize, k: usize, n: usize) -> Result<[u64; 3], Error> {
    let elements = [(m, k), (k, n), (m, n)].map(|(r, c)| (r as u128) * (c as u128));
    if let Some(&too_many) = elements.iter().find(|&&e| e > u32::MAX as u128) {
        return Err(Error::Usage(format!(
            "--matmul {m},{k},{n}: an operand of {too_many} elements; at most {} are supported",
            u32::MAX
        )));
    }
    let bytes = elements.map(|e| 4 * e as u64);
    let total = 2 * bytes.iter().sum::<u64>();
    gpu_mlp::files::check_host_memory(total, &format!("--matmul {m},{k},{n}"))?;
    Ok(bytes)
}

/// Seconds per product of the CPU path's GEMM, repeated for about half a second.
fn time_cpu_gemm(m: usize, k: usize, n: usize) -> f64 {
    let a = vec![0.5f32; m * k];
    let b = vec![0.25f32; k * n];
    let mut c = vec![0.0f32; m * n];
    let mut once = || {
        let t = std::time::Instant::now();
        gpu_mlp::cpu::matmul::matmul_forward(&a, &b, &mut c, m, k, n);
        t.elapsed().as_secs_f64()
    };
    let first = once();
    let reps = ((0.5 / first.max(1e-6)) as usize).clamp(1, 10_000);
    (0..reps).map(|_| once()).sum::<f64>() / reps as f64
}

/// Times the forward product `p` on the simple kernel and on every variant at each
/// of its tile sizes, printing a line each; returns the speed-ups over the simple one.
fn time_gpu_variants(
    ctx: &GpuContext,
    options: &GpuOptions,
    p: MatmulParams,
) -> Result<Vec<String>, Error> {
    let time = |kernels: &MatmulKernels, product: Product, packs: bool| -> Result<f64, Error> {
        let est = seconds_per_product(ctx, kernels, product, &p, 1, packs)?;
        let reps = ((0.5 / est.max(1e-6)) as usize).clamp(1, 1000);
        seconds_per_product(ctx, kernels, product, &p, reps, packs)
    };
    let line = |name: &str, s: f64| {
        say!(
            "{:<58} {:>10.3} ms {:>9.2} GFLOP/s",
            name,
            1e3 * s,
            p.flops() / s / 1e9
        )
    };
    let simple = MatmulKernels::variant(ctx, MatmulVariant::Blocked)?;
    let workers = options.workers.unwrap_or(simple.workers);
    let base = time(&simple, Product::Reference, false)?;
    line(
        "gpu matmul_reference (simple: 1 output per invocation)",
        base,
    );
    let mut ratios = Vec::new();
    for &variant in MatmulVariant::ALL {
        let picks_small = variant.has_small_tile() && small_tile_pays(&p, workers);
        let tiles: &[(u32, &str)] = match variant.has_small_tile() {
            true => &[(0, "64×64"), (u32::MAX, "32×32")],
            false => &[(0, "64×64")],
        };
        for &(forced, tile) in tiles {
            let kernels = MatmulKernels::variant(ctx, variant)?.with_workers(forced);
            let mark = if (forced == u32::MAX) == picks_small {
                " *"
            } else {
                ""
            };
            let s = time(&kernels, Product::Forward, false)?;
            line(&format!("gpu {} {tile}{mark}", kernels.forward.name), s);
            ratios.push(format!("{} {tile} {:.1}×", variant.name(), base / s));
            if variant == MatmulVariant::Texture {
                let s = time(&kernels, Product::Forward, true)?;
                line("  … with both operands packed into textures first", s);
                ratios.push(format!("texture {tile} with packs {:.1}×", base / s));
            }
        }
    }
    say!(
        "(* the tile this shape gets: 32×32 only when four times the 64×64 workgroups fit the adapter's {workers} workers)"
    );
    Ok(ratios)
}
