//! One epoch on real Fashion-MNIST through the command line, on the CPU and on the
//! GPU (lavapipe in CI, where the data set is installed; without it these fail under
//! CI and skip elsewhere).
//!
//! PyTorch and numpy reach 75–76 % test accuracy after one epoch of this network
//! (784-128-10 sigmoid, SGD 0.1, batch 100); we require ≥ 72 %, and the GPU within
//! 0.5 points of the CPU from the same seed (same initial weights and shuffles).

mod common;

use std::process::Command;

fn one_epoch(data: &std::path::Path, backend: &[&str], name: &str) -> f64 {
    let metrics = common::temp_dir(name).join("metrics.jsonl");
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--hidden",
        "128",
        "--epochs",
        "1",
        "--batch-size",
        "100",
        "--lr",
        "0.1",
        "--seed",
        "0",
    ];
    args.extend_from_slice(backend);
    args.extend_from_slice(&["--metrics", metrics.to_str().unwrap()]);
    let out = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args(&args)
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "gpu-mlp {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = std::fs::read_to_string(&metrics).unwrap();
    let m: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    m["test_accuracy"].as_f64().unwrap()
}

#[test]
fn fashion_mnist_one_epoch_cpu_and_gpu_agree() {
    let Some(data) = common::fashion_mnist() else {
        return;
    };
    let cpu = one_epoch(&data, &["--cpu"], "e2e_cpu");
    assert!(
        cpu >= 0.72,
        "CPU test accuracy {cpu} < 0.72 after one epoch"
    );
    if common::gpu().is_none() {
        return;
    }
    let gpu = one_epoch(&data, &["--backend", "vulkan"], "e2e_gpu");
    assert!(
        gpu >= 0.72,
        "GPU test accuracy {gpu} < 0.72 after one epoch"
    );
    assert!(
        (gpu - cpu).abs() <= 0.005,
        "GPU {gpu} and CPU {cpu} differ by more than 0.5 points"
    );
}
