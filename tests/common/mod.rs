//! Shared test helpers: synthetic data, IDX directories, the GPU adapter, comparisons.
#![allow(dead_code)]

mod npy;

use std::path::{Path, PathBuf};

use gpu_mlp::data::idx::encode_idx_u8;
use gpu_mlp::data::{Dataset, Split};
use gpu_mlp::gpu::{BackendChoice, GpuContext};
use gpu_mlp::rng::Rng;
#[allow(unused_imports)] // each test crate uses what it needs
pub use npy::{npy, npz_bytes};

/// Set to 1 to skip GPU tests on a machine without any adapter. CI never sets it.
pub const SKIP_GPU_ENV: &str = "GPU_MLP_SKIP_GPU_TESTS";

/// The adapter the GPU tests run on: Vulkan (lavapipe in CI) unless
/// `GPU_MLP_TEST_BACKEND` names another. Without one the test fails, saying what
/// to install, unless `GPU_MLP_SKIP_GPU_TESTS=1`, which skips it with a notice.
pub fn gpu() -> Option<GpuContext> {
    let backend = match std::env::var("GPU_MLP_TEST_BACKEND").as_deref() {
        Ok("auto") => BackendChoice::Auto,
        Ok("metal") => BackendChoice::Metal,
        Ok("dx12") => BackendChoice::Dx12,
        Ok("gl") => BackendChoice::Gl,
        _ => BackendChoice::Vulkan,
    };
    match GpuContext::new(backend, std::env::var("GPU_MLP_TEST_ADAPTER").ok().as_deref()) {
        Ok(ctx) => Some(ctx),
        Err(e) if std::env::var(SKIP_GPU_ENV).as_deref() == Ok("1") => {
            eprintln!("SKIPPED GPU test ({SKIP_GPU_ENV}=1): {e}");
            None
        }
        Err(e) => panic!(
            "GPU tests need an adapter: {e}\n(On Debian/Ubuntu: apt-get install mesa-vulkan-drivers. \
             To skip GPU tests on purpose, set {SKIP_GPU_ENV}=1.)"
        ),
    }
}

pub fn random_f32(rng: &mut Rng, n: usize, scale: f64) -> Vec<f32> {
    (0..n)
        .map(|_| ((rng.next_f64() * 2.0 - 1.0) * scale) as f32)
        .collect()
}

/// Asserts |got − want| ≤ abs + rel·|want| element-wise, naming the worst element.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], abs: f64, rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let mut worst: Option<(usize, f64)> = None;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let excess = (g as f64 - w as f64).abs() - (abs + rel * (w as f64).abs());
        let fails = excess > 0.0 || excess.is_nan();
        if fails && worst.is_none_or(|(_, e)| excess > e) {
            worst = Some((i, excess));
        }
    }
    if let Some((i, _)) = worst {
        panic!(
            "{what}: element {i} is {} but the reference is {} (tolerance {abs} + {rel}·|ref|)",
            got[i], want[i]
        );
    }
}

/// A separable synthetic problem: each class is a random prototype image, and each
/// example is its class's prototype plus uniform noise of ±`noise` grey levels.
pub fn synthetic_split(rng: &mut Rng, prototypes: &[Vec<u8>], n: usize, noise: i32) -> Split {
    let pixels = prototypes[0].len();
    let mut images = Vec::with_capacity(n * pixels);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let c = rng.below(prototypes.len() as u64) as usize;
        labels.push(c as u8);
        for &p in &prototypes[c] {
            let jitter = rng.below((2 * noise + 1) as u64) as i32 - noise;
            images.push((p as i32 + jitter).clamp(0, 255) as u8);
        }
    }
    Split::new(images, labels, pixels).unwrap()
}

pub fn synthetic_dataset(
    seed: u64,
    classes: usize,
    side: usize,
    n_train: usize,
    n_test: usize,
) -> Dataset {
    let mut rng = Rng::new(seed);
    let prototypes: Vec<Vec<u8>> = (0..classes)
        .map(|_| (0..side * side).map(|_| rng.below(256) as u8).collect())
        .collect();
    Dataset {
        dir: PathBuf::from("<synthetic>"),
        train: synthetic_split(&mut rng, &prototypes, n_train, 60),
        test: synthetic_split(&mut rng, &prototypes, n_test, 60),
        val: None,
        rows: side,
        cols: side,
        channels: 1,
        layout: gpu_mlp::data::Layout::Planes,
        task: gpu_mlp::Task::Classify,
        classes,
        class_names: None,
        source: None,
    }
}

/// A split's class labels as bytes (IDX label files hold bytes).
pub fn label_bytes(split: &gpu_mlp::Split) -> Vec<u8> {
    split.labels().iter().map(|&l| l as u8).collect()
}

/// Writes `ds` as the four standard IDX files (gzip-compressed if `gzip`) into `dir`.
pub fn write_idx_dir(dir: &Path, ds: &Dataset, gzip: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let files = [
        (
            "train-images-idx3-ubyte",
            encode_idx_u8(
                &[ds.train.len(), ds.rows, ds.cols],
                ds.train.features.as_u8().unwrap(),
            ),
        ),
        (
            "train-labels-idx1-ubyte",
            encode_idx_u8(&[ds.train.len()], &label_bytes(&ds.train)),
        ),
        (
            "t10k-images-idx3-ubyte",
            encode_idx_u8(
                &[ds.test.len(), ds.rows, ds.cols],
                ds.test.features.as_u8().unwrap(),
            ),
        ),
        (
            "t10k-labels-idx1-ubyte",
            encode_idx_u8(&[ds.test.len()], &label_bytes(&ds.test)),
        ),
    ];
    for (name, bytes) in files {
        if gzip {
            std::fs::write(dir.join(format!("{name}.gz")), gzip_bytes(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

pub fn gzip_bytes(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A fresh, empty directory under the target directory for this test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The Fashion-MNIST directory, or None (printing why) when it is absent outside CI.
/// Under CI (`CI` set) a missing data set fails the test instead.
pub fn fashion_mnist() -> Option<PathBuf> {
    let dir = PathBuf::from("/usr/share/datasets/fashion-mnist");
    if gpu_mlp::data::is_data_dir(&dir) {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "CI is set but Fashion-MNIST is missing from {}: apt-get install dataset-fashion-mnist",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: Fashion-MNIST not installed at {} (apt-get install dataset-fashion-mnist)",
        dir.display()
    );
    None
}

/// Trains `arch` on `ds` through the shared loop with `backend` ("cpu" or a GPU
/// context) and returns the per-epoch reports and the final parameters.
pub fn train_run(
    ds: &std::sync::Arc<Dataset>,
    arch: &gpu_mlp::network::Architecture,
    opt: gpu_mlp::optimizer::Optimizer,
    batch: usize,
    epochs: usize,
    seed: u64,
    gpu: Option<GpuContext>,
) -> (Vec<gpu_mlp::report::EpochReport>, Vec<f32>) {
    let gpu = gpu.map(|ctx| (ctx, Default::default()));
    train_run_with(ds, arch, opt, (batch, epochs, seed), gpu)
}

/// `train_run` with the GPU's options (a binding budget, a matmul variant).
pub fn train_run_with(
    ds: &std::sync::Arc<Dataset>,
    arch: &gpu_mlp::network::Architecture,
    opt: gpu_mlp::optimizer::Optimizer,
    (batch, epochs, seed): (usize, usize, u64),
    gpu: Option<(GpuContext, gpu_mlp::gpu::GpuOptions)>,
) -> (Vec<gpu_mlp::report::EpochReport>, Vec<f32>) {
    use gpu_mlp::backend::{Backend, TrainSetup};
    use gpu_mlp::train::{train, Silent, TrainConfig};
    let mut rng = Rng::new(seed);
    let setup = TrainSetup {
        arch: arch.clone(),
        opt,
        params: arch.init_params(&mut rng),
        batch_size: batch,
        seed,
        input: gpu_mlp::data::normalize::InputTransform::fit(
            gpu_mlp::data::normalize::Normalize::default_for(ds.dtype()),
            &ds.train,
        ),
    };
    let mut backend: Box<dyn Backend> = match gpu {
        None => Box::new(gpu_mlp::cpu::CpuBackend::new(ds.clone(), setup).unwrap()),
        Some((ctx, options)) => Box::new(
            gpu_mlp::gpu::GpuBackend::with_options(ctx, ds.clone(), setup, &options).unwrap(),
        ),
    };
    let cfg = TrainConfig {
        batch_size: batch,
        epochs,
        start_epoch: 0,
        resume_within: None,
        schedule: gpu_mlp::schedule::LrSchedule::constant(opt.lr),
        validation: false,
        test_every_epoch: false,
        evaluate_test: true,
        shuffle: true,
        early_stopping: None,
        best: Default::default(),
        head: arch.head.clone(),
    };
    let outcome = train(backend.as_mut(), ds, &cfg, &mut rng, &mut Silent).unwrap();
    (outcome.reports, backend.parameters().unwrap())
}

/// A Python interpreter that can import `modules`: `$GPU_MLP_PYTHON`, else `python3`.
/// Without one, the test fails under CI (`.ci/run` installs them) and skips elsewhere.
pub fn python_with(modules: &[&str]) -> Option<PathBuf> {
    let python =
        PathBuf::from(std::env::var_os("GPU_MLP_PYTHON").unwrap_or_else(|| "python3".into()));
    let probe = std::process::Command::new(&python)
        .args(["-c", &format!("import {}", modules.join(", "))])
        .output();
    match probe {
        Ok(o) if o.status.success() => Some(python),
        _ if std::env::var_os("CI").is_some() => panic!(
            "CI is set but {} cannot import {modules:?} (pip install {})",
            python.display(),
            modules.join(" ")
        ),
        _ => {
            eprintln!(
                "SKIPPED: {} cannot import {modules:?}; set GPU_MLP_PYTHON to one that can",
                python.display()
            );
            None
        }
    }
}

/// Runs the gpu-mlp binary with `args`.
pub fn gpu_mlp(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args(args)
        .output()
        .expect("run gpu-mlp")
}

/// Runs the gpu-mlp binary, failing the test (with its stderr) unless it succeeds;
/// returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = gpu_mlp(args);
    assert!(
        out.status.success(),
        "gpu-mlp {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd`, fails the test with its stderr if it fails, and returns its stdout.
pub fn stdout_of(cmd: &mut std::process::Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn write_npz(path: &Path, entries: &[(&str, Vec<u8>)], deflate: bool) {
    std::fs::write(path, npz_bytes(entries, deflate)).unwrap();
}

/// A CSV table of `n` rows: features `a` and `b` that follow the class, and a
/// `label` column naming each row's class (three in turn) with `labels`.
pub fn write_table(path: &Path, n: usize, labels: [&str; 3]) {
    let rows: String = (0..n)
        .map(|i| format!("{}.5,{},{}\n", i % 3, i % 4, labels[i % 3]))
        .collect();
    std::fs::write(path, format!("a,b,label\n{rows}")).unwrap();
}

/// Trains a small model of `table` on the CPU (a fifth of its rows held out as the
/// test split) and saves it to `model`.
pub fn train_table_model(table: &Path, model: &Path) {
    let (t, m) = (table.to_str().unwrap(), model.to_str().unwrap());
    ok(&[
        "train",
        "--cpu",
        "-q",
        "--data",
        t,
        "--test-split",
        "0.2",
        "--save",
        m,
    ]);
}
