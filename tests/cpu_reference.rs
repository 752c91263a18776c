//! The CPU path: the fast GEMM against the textbook triple loop, training that
//! converges with every optimizer, and bit-identical results for the same seed.

mod common;

use std::sync::Arc;

use common::{random_f32, synthetic_dataset, train_run};
use gpu_mlp::cpu::activation::bias_activation_forward;
use gpu_mlp::cpu::kernel::{with_kernel, CpuKernel};
use gpu_mlp::cpu::matmul::{
    matmul_backward_input, matmul_backward_weight, matmul_forward, matmul_naive,
};
use gpu_mlp::network::{Activation, Architecture, Loss};
use gpu_mlp::optimizer::{Optimizer, OptimizerKind};
use gpu_mlp::rng::Rng;

/// f32 GEMM against an f64 triple loop: the error of a K-term f32 dot product is
/// about √K·ε·Σ|a·b| for random data (ε = 6e-8); 1e-5·Σ|a·b| leaves 5× margin at K = 1024.
const GEMM_REL: f64 = 1e-5;

fn check_gemm(m: usize, k: usize, n: usize) {
    let mut rng = Rng::new((m * 1_000_000 + k * 1000 + n) as u64);
    let a = random_f32(&mut rng, m * k, 1.0);
    let w = random_f32(&mut rng, k * n, 1.0);
    let dz = random_f32(&mut rng, m * n, 1.0);
    let abs_a: Vec<f32> = a.iter().map(|v| v.abs()).collect();
    let abs_w: Vec<f32> = w.iter().map(|v| v.abs()).collect();
    let abs_dz: Vec<f32> = dz.iter().map(|v| v.abs()).collect();
    let compare = |what: &str, got: &[f32], want: Vec<f64>, scale: Vec<f64>| {
        for (i, ((&g, w), s)) in got.iter().zip(&want).zip(&scale).enumerate() {
            assert!(
                (g as f64 - w).abs() <= GEMM_REL * s + 1e-30,
                "{what} {m}×{k}×{n}: element {i} is {g}, reference {w}"
            );
        }
    };
    let mut z = vec![0.0; m * n];
    matmul_forward(&a, &w, &mut z, m, k, n);
    compare(
        "a·w",
        &z,
        matmul_naive(&a, (k, 1), &w, (n, 1), m, k, n),
        matmul_naive(&abs_a, (k, 1), &abs_w, (n, 1), m, k, n),
    );
    let mut dw = vec![0.0; k * n];
    matmul_backward_weight(&a, &dz, &mut dw, m, k, n);
    compare(
        "aᵀ·dz",
        &dw,
        matmul_naive(&a, (1, k), &dz, (n, 1), k, m, n),
        matmul_naive(&abs_a, (1, k), &abs_dz, (n, 1), k, m, n),
    );
    let mut da = vec![0.0; m * k];
    matmul_backward_input(&dz, &w, &mut da, m, k, n);
    compare(
        "dz·wᵀ",
        &da,
        matmul_naive(&dz, (n, 1), &w, (1, n), m, n, k),
        matmul_naive(&abs_dz, (n, 1), &abs_w, (1, n), m, n, k),
    );
}

#[test]
fn every_cpu_kernel_matches_the_triple_loop_on_ragged_shapes() {
    let kernels = CpuKernel::all_supported();
    println!("CPU kernels this machine runs: {kernels:?}");
    for kernel in kernels {
        for (m, k, n) in [
            (1, 1, 1),
            (3, 5, 7),
            (257, 129, 65),
            (100, 784, 128),
            (17, 1024, 3),
            (256, 300, 1030),
        ] {
            with_kernel(kernel, || check_gemm(m, k, n));
        }
    }
}

/// Training on each kernel: the same seed gives the same bits on one kernel, and
/// different kernels (different summation orders) agree within the GEMM tolerance.
#[test]
fn each_cpu_kernel_is_deterministic_and_the_kernels_agree() {
    let ds = Arc::new(synthetic_dataset(12, 10, 6, 600, 100));
    let arch =
        Architecture::new(36, &[64, 32], 10, Activation::Sigmoid, Loss::CrossEntropy).unwrap();
    let opt = Optimizer::new(OptimizerKind::Sgd, Some(0.1), 0.9);
    let run = |kernel| with_kernel(kernel, || train_run(&ds, &arch, opt, 50, 1, 5, None).1);
    let reference = run(CpuKernel::Avx2);
    for kernel in CpuKernel::all_supported() {
        let (a, b) = (run(kernel), run(kernel));
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{kernel:?} is not deterministic"
        );
        // One epoch of 12 steps from the same start: differences are rounding carried
        // through the steps, far below a change in what was learned.
        let worst = a
            .iter()
            .zip(&reference)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-4, "{kernel:?} differs from avx2 by {worst}");
    }
}

/// Bias + activation is compiled for each instruction set the kernels use; the
/// wider builds must give the portable one's bits exactly (same operations, same
/// order), including at the exp clamp, on infinities and on NaN.
#[test]
fn bias_activation_gives_the_same_bits_on_every_cpu_kernel() {
    let mut rng = Rng::new(7);
    let mut z = random_f32(&mut rng, 61 * 37, 120.0);
    z.extend([0.0, -0.0, 87.3, -87.3, 88.3, -88.4, 1e30, -1e30]);
    z.extend([
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
    ]);
    let n = 37;
    z.resize(z.len().next_multiple_of(n), 0.5);
    let b = random_f32(&mut rng, n, 1.0);
    for act in [
        None,
        Some(Activation::Sigmoid),
        Some(Activation::Relu),
        Some(Activation::Tanh),
    ] {
        let run = |kernel| {
            let mut out = z.clone();
            with_kernel(kernel, || bias_activation_forward(&mut out, &b, n, act));
            out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        let reference = run(CpuKernel::Portable);
        for kernel in CpuKernel::all_supported() {
            assert!(run(kernel) == reference, "{act:?} on {kernel:?}");
        }
    }
}

fn converges(kind: OptimizerKind, lr: Option<f32>, activation: Activation, loss: Loss) {
    let ds = Arc::new(synthetic_dataset(11, 10, 6, 2000, 500));
    let arch = Architecture::new(36, &[32], 10, activation, loss).unwrap();
    let opt = Optimizer::new(kind, lr, 0.9);
    let (reports, _) = train_run(&ds, &arch, opt, 50, 8, 3, None);
    let first = &reports[0];
    let last = reports.last().unwrap();
    assert!(
        last.train_loss < first.train_loss,
        "{kind:?}: loss did not fall: {reports:?}"
    );
    let accuracy = last
        .test_accuracy
        .expect("the test set is evaluated every epoch");
    assert!(
        accuracy >= 0.95,
        "{kind:?}/{activation:?}/{loss:?}: test accuracy {accuracy} < 0.95"
    );
}

#[test]
fn sgd_converges_on_a_separable_problem() {
    converges(
        OptimizerKind::Sgd,
        None,
        Activation::Sigmoid,
        Loss::CrossEntropy,
    );
}

#[test]
fn momentum_converges_on_a_separable_problem() {
    converges(
        OptimizerKind::Momentum,
        None,
        Activation::Relu,
        Loss::CrossEntropy,
    );
}

#[test]
fn adam_converges_on_a_separable_problem() {
    converges(
        OptimizerKind::Adam,
        None,
        Activation::Tanh,
        Loss::CrossEntropy,
    );
}

#[test]
fn mse_loss_converges_on_a_separable_problem() {
    // MSE's gradients through softmax are small (bounded by ¼ per class): a larger step.
    converges(
        OptimizerKind::Adam,
        Some(0.01),
        Activation::Sigmoid,
        Loss::SoftmaxMse,
    );
}

#[test]
fn same_seed_gives_bit_identical_weights_and_another_seed_does_not() {
    let ds = Arc::new(synthetic_dataset(12, 10, 6, 500, 100));
    let arch = Architecture::new(36, &[16, 8], 10, Activation::Relu, Loss::CrossEntropy).unwrap();
    let opt = Optimizer::new(OptimizerKind::Adam, None, 0.9);
    // A last batch of 500 mod 64 = 52 examples: trained on, not dropped.
    let (_, a) = train_run(&ds, &arch, opt, 64, 2, 9, None);
    let (_, b) = train_run(&ds, &arch, opt, 64, 2, 9, None);
    let (_, c) = train_run(&ds, &arch, opt, 64, 2, 10, None);
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    assert_ne!(a, c);
}

/// The f32 exp behind the CPU sigmoid: within 2 ULP (relative 2.4e-7) of the exact
/// value over the whole clamped range, for a dense sweep and for the points where
/// the range reduction switches n; saturating, not overflowing, outside it.
#[test]
fn vectorisable_exp_is_within_two_ulp() {
    use gpu_mlp::cpu::real::exp_f32;
    const ULP2: f64 = 2.0 * f32::EPSILON as f64;
    let mut worst = 0.0f64;
    let sweep = (0..2_000_000).map(|i| -87.0 + 175.0 * i as f64 / 2e6);
    let switches = (-125..=127).flat_map(|n| {
        let x = (n as f64 + 0.5) * std::f64::consts::LN_2;
        [x - 1e-6, x, x + 1e-6]
    });
    for x in sweep.chain(switches).chain([0.0, -0.0, 1e-30, -1e-30]) {
        let x = x as f32;
        if !(-87.0..=88.0).contains(&x) {
            continue;
        }
        let exact = (x as f64).exp();
        let err = ((exp_f32(x) as f64 - exact) / exact).abs();
        assert!(
            err <= ULP2,
            "exp({x}) = {}, exact {exact}: relative error {err:e}",
            exp_f32(x)
        );
        worst = worst.max(err);
    }
    println!("largest relative error of exp_f32: {worst:e}");
    assert!(exp_f32(-1000.0) >= 0.0 && exp_f32(-1000.0) < 1e-37);
    assert!(exp_f32(1000.0).is_finite() && exp_f32(1000.0) > 1e38);
    assert!(exp_f32(f32::NAN).is_nan());
    // And the sigmoid built on it stays in [0, 1] with exact saturation.
    use gpu_mlp::cpu::real::Real;
    assert_eq!(100.0f32.sigmoid(), 1.0);
    assert!((-100.0f32).sigmoid() >= 0.0 && (-100.0f32).sigmoid() < 1e-38);
    assert_eq!(0.0f32.sigmoid(), 0.5);
}

/// Helper threads that lag (another process holds their core) do not change a
/// single bit: a 2-thread run on a machine kept busy by spinning threads saves the
/// same checkpoint as on a quiet one, and, for the default network's shapes, as a
/// 1-thread run. The parts of every product are fixed before any thread claims
/// one (cpu/pool.rs).
#[test]
fn a_busy_machine_trains_the_same_bits_on_every_thread_count() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = common::temp_dir("cpu_busy_bits");
    common::write_idx_dir(&dir, &synthetic_dataset(23, 10, 28, 2000, 200), false);
    let run = |threads: &str, name: &str| {
        let save = dir.join(name);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
            .args(["train", "--cpu", "-q", "--epochs", "2", "--data"])
            .arg(&dir)
            .arg("--save")
            .arg(&save)
            .env("GPU_MLP_THREADS", threads)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(save).unwrap()
    };
    let quiet = run("2", "quiet.st");
    let stop = AtomicBool::new(false);
    let busy = std::thread::scope(|s| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        for _ in 0..cores {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            });
        }
        let busy = run("2", "busy.st");
        stop.store(true, Ordering::Relaxed);
        busy
    });
    assert!(quiet == busy, "a busy machine changed the bits");
    assert!(quiet == run("1", "one.st"), "one thread gives other bits");
}
