//! `gpu-mlp export`: the ONNX model passes the ONNX checker and onnxruntime
//! reproduces gpu-mlp's logits and accuracy on Fashion-MNIST's test set, for each
//! activation, loss and depth, at batch sizes 1 and 1000; bad inputs fail cleanly.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{fashion_mnist, gpu_mlp, ok, python_with, temp_dir};
use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::cpu::CpuNet;
use gpu_mlp::data::load_dir;

/// gpu-mlp's own logits for every test image, through the CPU reference.
fn reference_logits(model: &Checkpoint, images: &[u8]) -> Vec<f32> {
    let features = model.settings.arch.inputs();
    let mut net = CpuNet::<f32>::new(&model.settings.arch, 500);
    let mut out = Vec::new();
    for rows in images.chunks(500 * features) {
        let n = rows.len() / features;
        for (x, &b) in net.input_mut(n).iter_mut().zip(rows) {
            *x = b as f32 * (1.0 / 255.0);
        }
        net.forward(&model.state.params, n).unwrap();
        out.extend_from_slice(net.logits(n));
    }
    out
}

fn write_f32(path: &Path, values: &[f32]) {
    std::fs::write(
        path,
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
}

#[test]
fn onnxruntime_reproduces_evals_logits_and_accuracy() {
    let Some(python) = python_with(&["numpy", "onnx", "onnxruntime"]) else {
        return;
    };
    let Some(data) = fashion_mnist() else { return };
    let dir = temp_dir("export_ort");
    let ds = Arc::new(load_dir(&data, 10).unwrap());
    let (images, labels) = (dir.join("x.u8"), dir.join("y.u8"));
    std::fs::write(&images, ds.test.features.as_u8().unwrap()).unwrap();
    std::fs::write(&labels, common::label_bytes(&ds.test)).unwrap();
    let cases: [&[&str]; 4] = [
        &["--activation", "sigmoid"],
        &["--activation", "relu", "--hidden", "64,32"],
        &[
            "--activation",
            "tanh",
            "--loss",
            "softmax-mse",
            "--optimizer",
            "adam",
        ],
        &[
            "--activation",
            "relu",
            "--hidden",
            "32,16,8",
            "--optimizer",
            "momentum",
        ],
    ];
    for (i, flags) in cases.iter().enumerate() {
        let model = dir.join(format!("m{i}.st"));
        let onnx = dir.join(format!("m{i}.onnx"));
        let (m, o, d) = (
            model.to_str().unwrap(),
            onnx.to_str().unwrap(),
            data.to_str().unwrap(),
        );
        let mut train = vec![
            "train",
            "--cpu",
            "--data",
            d,
            "--train-limit",
            "6000",
            "--epochs",
            "1",
            "-q",
            "--save",
            m,
        ];
        train.extend_from_slice(flags);
        ok(&train);
        ok(&["export", "--model", m, "--onnx", o]);
        let checkpoint = Checkpoint::load(&model).unwrap();
        let logits = dir.join("z.f32");
        write_f32(
            &logits,
            &reference_logits(&checkpoint, ds.test.features.as_u8().unwrap()),
        );
        let eval: serde_json::Value =
            serde_json::from_str(&ok(&["eval", "--cpu", "--data", d, "--model", m, "--json"]))
                .unwrap();
        let ours = (eval["accuracy"].as_f64().unwrap() * ds.test.len() as f64).round() as i64;
        let out = Command::new(&python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/interop/onnx_check.py"
            ))
            .args([
                o,
                images.to_str().unwrap(),
                logits.to_str().unwrap(),
                labels.to_str().unwrap(),
                "784",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{flags:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // f32 products summed in another order: a few ULP of the row's largest logit.
        assert!(r["max_rel_err"].as_f64().unwrap() <= 1e-5, "{flags:?}: {r}");
        assert!(
            r["max_rel_err_batch1"].as_f64().unwrap() <= 1e-5,
            "{flags:?}: {r}"
        );
        assert!(
            r["prob_sum_err"].as_f64().unwrap() <= 1e-5,
            "{flags:?}: {r}"
        );
        // Ties between two logits may resolve differently under another summation order.
        let correct = r["correct"].as_i64().unwrap();
        assert!(
            (correct - ours).abs() <= 2,
            "{flags:?}: onnxruntime {correct}, gpu-mlp {ours} of 10000"
        );
        assert_eq!(r["opset"], 17);
        assert_eq!(
            r["metadata"]["layers"],
            checkpoint.settings.arch.shape_string()
        );
        assert!(r["metadata"]["class_names"]
            .as_str()
            .unwrap()
            .contains("Ankle boot"));
    }
}

#[test]
fn bad_inputs_to_export_fail_cleanly() {
    let dir = temp_dir("export_bad");
    let not_a_checkpoint: PathBuf = dir.join("x.st");
    std::fs::write(&not_a_checkpoint, b"not a checkpoint").unwrap();
    let onnx = dir.join("out.onnx");
    let o = onnx.to_str().unwrap();
    let cases = [
        (
            not_a_checkpoint.to_str().unwrap(),
            o,
            1,
            "not a safetensors file",
        ),
        (dir.to_str().unwrap(), o, 1, "a directory"),
        ("/nonexistent.st", o, 1, "/nonexistent.st"),
    ];
    for (model, out, code, words) in cases {
        let r = gpu_mlp(&["export", "--model", model, "--onnx", out]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(code), "{err}");
        assert!(err.contains(words) && !err.contains("panicked"), "{err}");
    }
    assert!(!onnx.exists());
    // An output that cannot be written is refused before anything else happens.
    let data = temp_dir("export_bad_data");
    common::write_idx_dir(&data, &common::synthetic_dataset(3, 10, 4, 50, 20), false);
    let model = data.join("m.st");
    let m = model.to_str().unwrap();
    ok(&[
        "train",
        "--cpu",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "1",
        "-q",
        "--save",
        m,
    ]);
    for (out, words) in [
        ("/dev/null", "a device"),
        ("/nonexistent-dir/m.onnx", "No such file"),
        (dir.to_str().unwrap(), "a directory"),
    ] {
        let r = gpu_mlp(&["export", "--model", m, "--onnx", out]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_ne!(r.status.code(), Some(0), "{err}");
        assert!(err.contains(words) && !err.contains("panicked"), "{err}");
    }
}
