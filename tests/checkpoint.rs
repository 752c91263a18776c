//! Checkpoints: round trips, resuming reproduces an uninterrupted run, hostile files
//! are refused with a clear error, writes are atomic, and an independent reader
//! (numpy + the safetensors package) gets the same accuracy from the file.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{gpu_mlp, ok, synthetic_dataset, temp_dir, write_idx_dir};
use gpu_mlp::checkpoint::Checkpoint;

fn data(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    write_idx_dir(&dir, &synthetic_dataset(41, 10, 6, 600, 200), true);
    dir
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// 2 epochs, against 1 epoch + resume 1 epoch, with every optimizer; the result
/// must be bit-identical (the optimizer state and the RNG position are restored).
fn resume_reproduces(backend: &[&str], name: &str) {
    let dir = data(name);
    let d = dir.to_str().unwrap();
    for (opt, extra) in [
        ("sgd", None),
        ("momentum", None),
        ("adam", Some("--lr=0.003")),
    ] {
        let path = |s: &str| dir.join(format!("{opt}-{s}.safetensors"));
        let mut common: Vec<&str> = vec![
            "train",
            "--data",
            d,
            "--hidden",
            "24,12",
            "--optimizer",
            opt,
            "--batch-size",
            "64",
            "-q",
        ];
        common.extend(extra);
        common.extend_from_slice(backend);
        let run = |more: &[&str]| ok(&[common.as_slice(), more].concat());
        run(&["--epochs", "2", "--save", path("two").to_str().unwrap()]);
        run(&["--epochs", "1", "--save", path("one").to_str().unwrap()]);
        // --resume rejects the architecture flags, so pass only what may change.
        let (one, resumed) = (path("one"), path("resumed"));
        let mut resume = vec![
            "train",
            "--data",
            d,
            "--resume",
            one.to_str().unwrap(),
            "--epochs",
            "1",
            "-q",
        ];
        resume.extend_from_slice(backend);
        resume.extend_from_slice(&["--save", resumed.to_str().unwrap()]);
        ok(&resume);
        let two = Checkpoint::load(&path("two")).unwrap();
        let resumed = Checkpoint::load(&path("resumed")).unwrap();
        assert_eq!(resumed.state.epochs_trained, 2);
        assert_eq!(
            bits(&two.state.params),
            bits(&resumed.state.params),
            "{opt}: parameters differ"
        );
        assert_eq!(
            bits(&two.state.optimizer.m),
            bits(&resumed.state.optimizer.m),
            "{opt}: first moment differs"
        );
        assert_eq!(
            bits(&two.state.optimizer.v),
            bits(&resumed.state.optimizer.v),
            "{opt}: second moment differs"
        );
        assert_eq!(
            (two.state.optimizer.t, two.state.rng_state),
            (resumed.state.optimizer.t, resumed.state.rng_state)
        );
    }
}

#[test]
fn one_epoch_plus_resume_equals_two_epochs_on_the_cpu() {
    resume_reproduces(&["--cpu"], "ckpt_resume_cpu");
}

#[test]
fn one_epoch_plus_resume_equals_two_epochs_on_the_gpu() {
    // Same adapter, same kernels, same fixed reduction orders: bit-identical too,
    // which is stronger than the tolerance the GPU-vs-CPU tests allow.
    if common::gpu().is_none() {
        return;
    }
    resume_reproduces(&["--backend", "vulkan"], "ckpt_resume_gpu");
}

#[test]
fn saved_checkpoint_round_trips_with_names_shapes_and_metadata() {
    let dir = data("ckpt_round_trip");
    let path = dir.join("m.safetensors");
    ok(&[
        "train",
        "--cpu",
        "--data",
        dir.to_str().unwrap(),
        "--hidden",
        "7",
        "--activation",
        "tanh",
        "--optimizer",
        "adam",
        "--epochs",
        "2",
        "--seed",
        "5",
        "-q",
        "--save",
        path.to_str().unwrap(),
    ]);
    let c = Checkpoint::load(&path).unwrap();
    assert_eq!(c.settings.arch.sizes, vec![36, 7, 10]);
    assert_eq!(
        (
            c.state.epochs_trained,
            c.settings.seed,
            c.settings.batch_size
        ),
        (2, 5, 100)
    );
    assert_eq!(c.state.optimizer.t, 2 * 6);
    assert_eq!(c.state.optimizer.m.len(), c.state.params.len());
    // Saving what was loaded gives the same checkpoint back.
    let again = dir.join("again.safetensors");
    c.save(&again).unwrap();
    assert_eq!(Checkpoint::load(&again).unwrap(), c);
    // The file itself: PyTorch names and [out, in] weight shapes.
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort();
    assert!(
        names.contains(&"layers.0.weight") && names.contains(&"layers.1.bias"),
        "{names:?}"
    );
    assert_eq!(st.tensor("layers.0.weight").unwrap().shape(), &[7, 36]);
    assert_eq!(st.tensor("layers.1.weight").unwrap().shape(), &[10, 7]);
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A tensor as (name, dtype, shape, bytes), editable before re-serialising.
type RawTensor = (String, safetensors::Dtype, Vec<usize>, Vec<u8>);
type Meta = std::collections::HashMap<String, String>;

fn assert_refused(path: &Path, words: &str) {
    let err = Checkpoint::load(path)
        .expect_err("a bad checkpoint must be refused")
        .to_string();
    assert!(
        err.contains(&path.display().to_string()) && err.contains(words),
        "{err:?} should name the file and say {words:?}"
    );
    let out = gpu_mlp(&["eval", "--cpu", "--model", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn hostile_checkpoints_are_refused_with_the_problem_named() {
    let dir = data("ckpt_hostile");
    let good = dir.join("good.safetensors");
    ok(&[
        "train",
        "--cpu",
        "--data",
        dir.to_str().unwrap(),
        "--hidden",
        "5",
        "--epochs",
        "1",
        "-q",
        "--save",
        good.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&good).unwrap();
    let write = |name: &str, b: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    assert_refused(&write("empty", b""), "not a safetensors file");
    assert_refused(
        &write("truncated", &bytes[..bytes.len() - 10]),
        "not a safetensors file",
    );
    assert_refused(
        &write("huge-header", &u64::MAX.to_le_bytes()),
        "not a safetensors file",
    );

    // Well-formed safetensors with the wrong content.
    let c = Checkpoint::load(&good).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    let rewrite = |name: &str, edit: &dyn Fn(&mut Vec<RawTensor>, &mut Meta)| {
        let mut tensors: Vec<RawTensor> = st
            .tensors()
            .into_iter()
            .map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
            .collect();
        let mut meta = meta.clone();
        edit(&mut tensors, &mut meta);
        let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .iter()
            .map(|(n, d, s, b)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
                )
            })
            .collect();
        write(name, &safetensors::serialize(views, Some(meta)).unwrap())
    };
    assert_refused(
        &rewrite("no-tensor", &|t, _| t.retain(|x| x.0 != "layers.1.bias")),
        "tensor layers.1.bias is missing",
    );
    assert_refused(
        &rewrite("wrong-shape", &|t, _| {
            let w = t.iter_mut().find(|x| x.0 == "layers.0.weight").unwrap();
            w.2 = vec![w.2[1], w.2[0]];
        }),
        "has shape [36, 5], expected [5, 36]",
    );
    assert_refused(
        &rewrite("wrong-dtype", &|t, _| {
            let b = t.iter_mut().find(|x| x.0 == "layers.0.bias").unwrap();
            b.1 = safetensors::Dtype::I32;
        }),
        "is I32, expected F32",
    );
    assert_refused(
        &rewrite("bad-activation", &|_, m| {
            m.insert("activation".into(), "softplus".into());
        }),
        "activation=\"softplus\"",
    );
    assert_refused(
        &rewrite("bad-layers", &|_, m| {
            m.insert("layers".into(), "36,0,10".into());
        }),
        "metadata layers",
    );
    assert_refused(
        &rewrite("no-format", &|_, m| {
            m.remove("format");
        }),
        "metadata has no \"format\"",
    );
    assert_refused(
        &rewrite("nan", &|t, _| {
            let b = t.iter_mut().find(|x| x.0 == "layers.0.bias").unwrap();
            b.3[..4].copy_from_slice(&f32::NAN.to_le_bytes());
        }),
        "NaN",
    );
    assert_refused(
        &rewrite("extra-tensor", &|t, _| {
            let extra = t[0].clone();
            t.push(("surprise".into(), extra.1, extra.2, extra.3));
        }),
        "tensors, expected",
    );
    assert!(c.state.params.iter().all(|p| p.is_finite()));
}

#[test]
fn resume_accepts_agreeing_flags_and_refuses_conflicts_and_mismatched_data() {
    let dir = data("ckpt_resume_flags");
    let path = dir.join("m.safetensors");
    let (d, p) = (dir.to_str().unwrap(), path.to_str().unwrap());
    let net = [
        "--hidden",
        "5",
        "--activation",
        "relu",
        "--optimizer",
        "adam",
        "--seed",
        "7",
    ];
    let mut first = vec![
        "train", "--cpu", "--data", d, "--epochs", "1", "-q", "--save", p,
    ];
    first.extend_from_slice(&net);
    ok(&first);
    // The very flags that trained it are accepted.
    let mut again = first.clone();
    again.extend_from_slice(&["--resume", p]);
    ok(&again);
    // A real conflict names the flag, the checkpoint's value and the given one.
    let out = gpu_mlp(&[
        "train", "--cpu", "--data", d, "--resume", p, "--save", p, "--hidden", "9",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--hidden 9 conflicts with the checkpoint's 5"),
        "{err}"
    );
    let out = gpu_mlp(&[
        "train",
        "--cpu",
        "--data",
        d,
        "--resume",
        p,
        "--save",
        p,
        "--optimizer",
        "sgd",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--optimizer sgd conflicts with the checkpoint's adam"),
        "{err}"
    );
    // Resuming without --save would throw the result away: refused.
    let out = gpu_mlp(&["train", "--cpu", "--data", d, "--resume", p]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--save"));
    let other = temp_dir("ckpt_resume_other");
    write_idx_dir(&other, &synthetic_dataset(42, 10, 5, 100, 50), false);
    let o = other.to_str().unwrap();
    let out = gpu_mlp(&["train", "--cpu", "--data", o, "--resume", p, "--save", p]);
    // Data that does not fit the checkpoint is a data error (exit 1), not a bad flag.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("6×6"));
}

#[test]
fn checkpoints_survive_being_killed_at_any_moment() {
    let dir = data("ckpt_kill");
    let path = dir.join("m.safetensors");
    let d = dir.to_str().unwrap();
    let mut loaded = 0;
    // Kill a run that saves after every epoch at staggered moments; whatever is on
    // disk must always be a complete, loadable checkpoint.
    for i in 0..8u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
            .args([
                "train",
                "--cpu",
                "--data",
                d,
                "--hidden",
                "256,256",
                "--epochs",
                "1000",
                "-q",
                "--batch-size",
                "8",
                "--checkpoint-every",
                "1",
                "--save",
                path.to_str().unwrap(),
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(150 + 97 * i));
        child.kill().unwrap();
        child.wait().unwrap();
        if path.exists() {
            let c = Checkpoint::load(&path).unwrap_or_else(|e| panic!("after kill {i}: {e}"));
            assert!(c.state.epochs_trained >= 1);
            loaded += 1;
        }
    }
    assert!(
        loaded > 0,
        "no checkpoint was ever written; the runs were killed too early to test anything"
    );
}

#[test]
fn an_independent_reader_reproduces_the_test_accuracy() {
    let Some(python) = common::python_with(&["numpy", "safetensors"]) else {
        return;
    };
    let dir = data("ckpt_interop");
    let path = dir.join("m.safetensors");
    let d = dir.to_str().unwrap();
    for act in ["sigmoid", "relu", "tanh"] {
        ok(&[
            "train",
            "--cpu",
            "--data",
            d,
            "--hidden",
            "16,8",
            "--activation",
            act,
            "--epochs",
            "2",
            "-q",
            "--save",
            path.to_str().unwrap(),
        ]);
        let ours: serde_json::Value = serde_json::from_str(&ok(&[
            "eval",
            "--cpu",
            "--data",
            d,
            "--model",
            path.to_str().unwrap(),
            "--json",
        ]))
        .unwrap();
        let out = Command::new(&python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/interop/forward.py"
            ))
            .args([path.to_str().unwrap(), d])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // numpy's f32 sums in another order: at most one of 200 examples may flip.
        let (a, b) = (
            ours["accuracy"].as_f64().unwrap(),
            theirs["accuracy"].as_f64().unwrap(),
        );
        assert!(
            (a - b).abs() <= 1.0 / 200.0 + 1e-9,
            "{act}: gpu-mlp {a}, numpy {b}"
        );
    }
}

#[test]
fn identical_runs_write_identical_checkpoint_files() {
    let dir = data("ckpt_reproducible");
    let d = dir.to_str().unwrap();
    let files: Vec<Vec<u8>> = (0..2)
        .map(|i| {
            let path = dir.join(format!("run{i}.st"));
            let p = path.to_str().unwrap();
            ok(&[
                "train",
                "--cpu",
                "--data",
                d,
                "--optimizer",
                "adam",
                "--epochs",
                "2",
                "-q",
                "--save",
                p,
            ]);
            std::fs::read(&path).unwrap()
        })
        .collect();
    // Metadata in a fixed order and no timing: a checksum identifies a model.
    assert!(
        files[0] == files[1],
        "two identical runs wrote different bytes"
    );
}

/// Writes `tensors` (name, PyTorch-layout f32 values, shape) as PyTorch's
/// `save_file` does: safetensors with only `format: pt` as metadata.
fn write_state_dict(path: &Path, tensors: &[(String, Vec<f32>, Vec<usize>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, v, _)| bytemuck::cast_slice(v).to_vec())
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, _, s), b)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b);
            (n.clone(), view.unwrap())
        })
        .collect();
    let meta = Meta::from([("format".to_string(), "pt".to_string())]);
    std::fs::write(path, safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
}

#[test]
fn a_pytorch_state_dict_is_read_with_its_activation() {
    let dir = data("ckpt_state_dict");
    let d = dir.to_str().unwrap();
    let good = dir.join("good.safetensors");
    let g = good.to_str().unwrap();
    ok(&[
        "train",
        "--cpu",
        "--data",
        d,
        "--hidden",
        "7,6",
        "--activation",
        "tanh",
        "--epochs",
        "2",
        "-q",
        "--save",
        g,
    ]);
    // nn.Sequential(Linear, Tanh, Linear, Tanh, Linear).state_dict(): Linear layers
    // at indices 0, 2, 4 — listed out of order, so that 10 sorts after 4 as a number.
    let bytes = std::fs::read(&good).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let layer = |l: usize, index: usize| -> Vec<(String, Vec<f32>, Vec<usize>)> {
        ["weight", "bias"]
            .map(|p| {
                let t = st.tensor(&format!("layers.{l}.{p}")).unwrap();
                let values: Vec<f32> = bytemuck::pod_collect_to_vec(t.data());
                (format!("net.{index}.{p}"), values, t.shape().to_vec())
            })
            .to_vec()
    };
    let mut tensors = [layer(2, 10), layer(0, 2), layer(1, 4)].concat();
    let sd = dir.join("state_dict.safetensors");
    let s = sd.to_str().unwrap();
    write_state_dict(&sd, &tensors);

    let eval = |model: &str, extra: &[&str]| {
        let mut args = vec!["eval", "--cpu", "--json", "--data", d, "--model", model];
        args.extend_from_slice(extra);
        let e: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
        (e["loss"].clone(), e["accuracy"].clone())
    };
    assert_eq!(eval(s, &["--activation", "tanh"]), eval(g, &[]));
    ok(&[
        "predict",
        "--model",
        s,
        "--activation",
        "tanh",
        "--index",
        "0",
        "--data",
        d,
    ]);

    // Without --activation: refused, saying what to give.
    let out = gpu_mlp(&["eval", "--cpu", "--data", d, "--model", s]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --activation"));
    // --activation on a gpu-mlp checkpoint must agree with it.
    let out = gpu_mlp(&[
        "eval",
        "--cpu",
        "--data",
        d,
        "--model",
        g,
        "--activation",
        "relu",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("disagrees with"));

    // Layers that do not chain, a tensor that is no Linear's, a weight without bias.
    let refused = |name: &str, tensors: &[(String, Vec<f32>, Vec<usize>)], words: &str| {
        let p = dir.join(name);
        write_state_dict(&p, tensors);
        let out = gpu_mlp(&[
            "eval",
            "--cpu",
            "--data",
            d,
            "--model",
            p.to_str().unwrap(),
            "--activation",
            "tanh",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(words) && !stderr.contains("panicked"),
            "{stderr}"
        );
    };
    let mut swapped = tensors.clone();
    swapped
        .iter_mut()
        .for_each(|t| t.0 = t.0.replace("net.2.", "net.99."));
    refused(
        "unchained",
        &swapped,
        "net.99.weight takes 36 inputs, but the layer before gives 10",
    );
    // "net.4" and "net.04" are the same number: no order, refused in every process.
    let mut twins = tensors.clone();
    twins
        .iter_mut()
        .for_each(|t| t.0 = t.0.replace("net.2.", "net.04."));
    refused(
        "twins",
        &twins,
        "have the same number: their order is ambiguous",
    );
    tensors.push(("net.1.running_mean".into(), vec![0.0; 7], vec![7]));
    refused(
        "batchnorm",
        &tensors,
        "net.1.running_mean is not a Linear layer's weight or bias",
    );
    tensors.pop();
    tensors.retain(|t| t.0 != "net.4.bias");
    refused("no-bias", &tensors, "net.4.weight has no net.4.bias");
}
