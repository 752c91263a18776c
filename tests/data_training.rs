//! Training on the new kinds of data: float features with their normalization on
//! both paths and across a resume, splits streamed through the GPU in windows
//! (bit-identical to resident ones), and every format from the command line:
//! train, eval with class names, predict from PNG (gray and RGB) and CSV rows.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{gpu, gpu_mlp, npy, ok, synthetic_dataset, temp_dir, train_run, train_run_with};
use gpu_mlp::data::{Dataset, Features, Layout, Split};
use gpu_mlp::gpu::GpuOptions;
use gpu_mlp::network::{Activation, Architecture, Loss};
use gpu_mlp::optimizer::{Optimizer, OptimizerKind};
use gpu_mlp::rng::Rng;

/// A float data set on a scale far from [0, 1] (so normalization matters): each
/// class is a random prototype, each example its prototype plus noise.
fn float_dataset(seed: u64, classes: usize, width: usize, n: (usize, usize)) -> Dataset {
    let mut rng = Rng::new(seed);
    let prototypes: Vec<Vec<f32>> = (0..classes)
        .map(|_| {
            (0..width)
                .map(|j| 1000.0 * j as f32 + rng.below(2000) as f32)
                .collect()
        })
        .collect();
    let mut split = |n: usize| {
        let labels: Vec<u8> = (0..n).map(|_| rng.below(classes as u64) as u8).collect();
        let x = labels
            .iter()
            .flat_map(|&c| prototypes[c as usize].clone())
            .map(|v| v + rng.below(200) as f32 - 100.0)
            .collect::<Vec<f32>>();
        Split::from_f32(x, labels, width).unwrap()
    };
    let (train, test) = (split(n.0), split(n.1));
    Dataset::from_memory("floats", train, test, (1, width), classes).unwrap()
}

/// Writes a data set's splits as CSV tables with string labels.
fn write_csv(ds: &Dataset, dir: &Path) -> (String, String) {
    let names = ["alpha", "beta", "gamma", "delta"];
    let table = |split: &Split, file: &str| {
        let Features::F32(x) = &split.features else {
            panic!("floats expected")
        };
        let header: Vec<String> = (0..split.width).map(|j| format!("f{j}")).collect();
        let mut text = format!("{},kind\n", header.join(","));
        for (row, &l) in x.chunks(split.width).zip(split.labels()) {
            let values: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            text += &format!("{},\"{}\"\n", values.join(","), names[l as usize]);
        }
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    (table(&ds.train, "train.csv"), table(&ds.test, "test.csv"))
}

#[test]
fn float_features_train_alike_on_both_paths() {
    let ds = Arc::new(float_dataset(3, 3, 7, (90, 30)));
    let arch = Architecture::new(7, &[6], 3, Activation::Tanh, Loss::CrossEntropy).unwrap();
    let opt = Optimizer::new(OptimizerKind::Sgd, Some(0.1), 0.0);
    // Unnormalized, features near 1000·j saturate tanh; standardized they train.
    let (reports, _) = train_run(&ds, &arch, opt, 30, 20, 2, None);
    let last = reports.last().unwrap();
    assert!(last.test_accuracy.unwrap() > 0.9, "{last:?}");
    let Some(ctx) = gpu() else { return };
    let (cpu_reports, cpu) = train_run(&ds, &arch, opt, 30, 1, 2, None);
    let (gpu_reports, gpu) = train_run(&ds, &arch, opt, 30, 1, 2, Some(ctx));
    // Bit-identical inputs (same transform, same f32 operations); three steps of
    // products that agree to the matmul rounding (gpu_training.rs's bound per step).
    common::assert_close("params after an epoch", &gpu, &cpu, 1e-5, 1e-5);
    assert_eq!(gpu_reports[0].test_accuracy, cpu_reports[0].test_accuracy);
}

#[test]
fn streamed_splits_train_bit_identically_to_resident_ones() {
    if gpu().is_none() {
        return;
    }
    let opt = Optimizer::new(OptimizerKind::Adam, Some(0.01), 0.9);
    // Examples of 64 bytes: 8×8 u8 images and 16 f32 features.
    let bytes = Arc::new(synthetic_dataset(4, 4, 8, 1500, 1000));
    let floats = Arc::new(float_dataset(5, 4, 16, (1500, 1000)));
    for ds in [bytes, floats] {
        let arch =
            Architecture::new(ds.width(), &[16], 4, Activation::Relu, Loss::CrossEntropy).unwrap();
        let resident = train_run_with(
            &ds,
            &arch,
            opt,
            (20, 2, 9),
            Some((gpu().unwrap(), GpuOptions::default())),
        );
        // 40,000 bytes hold 625 examples, more than the largest (evaluation) batch
        // of 500: both splits stream, the training one in three windows an epoch.
        let budget = GpuOptions {
            binding_budget: Some(40_000),
            ..Default::default()
        };
        assert!(ds.train.features.bytes() > 40_000 && ds.test.features.bytes() > 40_000);
        let streamed = train_run_with(&ds, &arch, opt, (20, 2, 9), Some((gpu().unwrap(), budget)));
        let bits = |p: &[f32]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&streamed.1),
            bits(&resident.1),
            "{:?} parameters",
            ds.dtype()
        );
        let figures = |r: &[gpu_mlp::report::EpochReport]| {
            r.iter()
                .map(|e| (e.train_loss, e.test_loss))
                .collect::<Vec<_>>()
        };
        assert_eq!(figures(&streamed.0), figures(&resident.0));
    }
}

#[test]
fn a_batch_larger_than_the_budget_is_refused_with_the_reason() {
    let Some(ctx) = gpu() else { return };
    let ds = Arc::new(synthetic_dataset(4, 4, 8, 700, 300));
    let arch = Architecture::new(64, &[16], 4, Activation::Relu, Loss::CrossEntropy).unwrap();
    let setup = gpu_mlp::backend::TrainSetup {
        params: arch.init_params(&mut Rng::new(1)),
        input: gpu_mlp::data::normalize::InputTransform::unit_bytes(64),
        arch,
        opt: Optimizer::new(OptimizerKind::Sgd, None, 0.0),
        batch_size: 100,
        seed: 1,
    };
    let options = GpuOptions {
        binding_budget: Some(2048),
        ..Default::default()
    };
    let err = gpu_mlp::gpu::GpuBackend::with_options(ctx, ds, setup, &options)
        .err()
        .expect("a 32-example window cannot hold a batch");
    assert!(err.to_string().contains("exceeds the 2048 bytes"), "{err}");
    assert!(err.to_string().contains("evaluation batch"), "{err}");
    // The limit is the budget the caller set, so the advice is to raise it.
    assert!(
        err.to_string()
            .contains("of the binding budget set (GPU_MLP_BINDING_BUDGET, GpuOptions::binding_budget); raise the budget"),
        "{err}"
    );
}

#[test]
fn csv_models_resume_exactly_and_predict_rows_with_class_names() {
    let dir = temp_dir("csv_cli");
    let ds = float_dataset(7, 3, 5, (120, 45));
    let (train, test) = write_csv(&ds, &dir);
    let model = |name: &str| dir.join(name).display().to_string();
    let base = [
        "train",
        "--cpu",
        "--data",
        &train,
        "--test-data",
        &test,
        "--hidden",
        "8",
        "--batch-size",
        "16",
        "--optimizer",
        "adam",
        "--lr",
        "0.05",
        "-q",
    ];
    let two = model("two.safetensors");
    ok(&[&base[..], &["--epochs", "2", "--save", &two]].concat());
    let one = model("one.safetensors");
    ok(&[&base[..], &["--epochs", "1", "--save", &one]].concat());
    let resumed = model("resumed.safetensors");
    ok(&[
        &base[..],
        &["--epochs", "1", "--resume", &one, "--save", &resumed],
    ]
    .concat());
    // The same bytes: parameters, statistics (input.shift/scale) and metadata.
    let tensors = |p: &str| gpu_mlp::checkpoint::Checkpoint::load(p.as_ref()).unwrap();
    let (a, b) = (tensors(&two), tensors(&resumed));
    assert_eq!(
        (a.state.params, a.settings.input.clone()),
        (b.state.params, b.settings.input.clone())
    );
    assert_eq!(
        a.settings.input.kind,
        gpu_mlp::data::normalize::Normalize::Standard
    );
    assert_eq!(
        a.settings.class_names.as_deref().unwrap(),
        ["alpha", "beta", "gamma"]
    );

    let eval = ok(&[
        "eval",
        "--cpu",
        "--model",
        &two,
        "--data",
        &train,
        "--test-data",
        &test,
    ]);
    assert!(eval.contains("gamma"), "{eval}");
    let pred = ok(&["predict", "--model", &two, "--csv", &test, "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&pred).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 45);
    let right = rows.iter().filter(|r| r["predicted"] == r["true"]).count();
    assert!(right > 40, "{right}/45 right: {pred}");
    assert!(rows[0]["name"].is_string());
    // Rows without the label column are classified too; a PNG is refused.
    let bare = dir.join("bare.csv");
    let text = std::fs::read_to_string(&test).unwrap();
    let stripped: String = text
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    std::fs::write(&bare, stripped).unwrap();
    let out = ok(&["predict", "--model", &two, "--csv", bare.to_str().unwrap()]);
    assert!(out.contains("predicted:"), "{out}");
    let refused = gpu_mlp(&["predict", "--model", &two, "x.png"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("give --csv FILE"), "{stderr}");
    // A table holding one class only is read by the model's class names: its
    // rows stay "gamma" (class 2), not class 0 of a table of its own.
    let gammas = dir.join("gammas.csv");
    let only: String = text
        .lines()
        .filter(|l| !l.contains("alpha") && !l.contains("beta"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&gammas, only).unwrap();
    let eval = ok(&[
        "eval",
        "--cpu",
        "--json",
        "--model",
        &two,
        "--data",
        &train,
        "--test-data",
        gammas.to_str().unwrap(),
    ]);
    let eval: serde_json::Value = serde_json::from_str(&eval).unwrap();
    assert!(
        eval["per_class"][2]["examples"].as_u64().unwrap() > 5,
        "{eval}"
    );
    assert_eq!(eval["per_class"][0]["examples"], 0, "{eval}");
    // --normalize on resume must agree with the checkpoint.
    let clash = gpu_mlp(&[&base[..], &["--resume", &one, "--normalize", "unit"]].concat());
    assert_eq!(clash.status.code(), Some(2));
}

/// An RGB PNG of 32×32 whose pixels are (r, g, b).
fn write_rgb_png(path: &Path, rgb: [u8; 3]) {
    write_rgb_png_sized(path, rgb, (32, 32));
}

/// An RGB PNG of `w`×`h` whose pixels are (r, g, b).
fn write_rgb_png_sized(path: &Path, rgb: [u8; 3], (w, h): (u32, u32)) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(png::ColorType::Rgb);
    let mut writer = enc.write_header().unwrap();
    writer
        .write_image_data(&rgb.repeat((w * h) as usize))
        .unwrap();
}

/// CIFAR-10 binary records of `n` 32×32 images (label byte, then the red, green
/// and blue planes): class c (of red, green, blue) is a solid colour with noise.
fn solid_colour_records(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            let c = (i % 3) as u8;
            let mut r = vec![c];
            for plane in 0..3u8 {
                r.extend(
                    (0..1024).map(|_| if plane == c { 200 } else { 30 } + rng.below(40) as u8),
                );
            }
            r
        })
        .collect()
}

/// A CIFAR-10 binary directory of solid-colour classes, `n` images a batch file.
fn write_solid_colour_cifar(data: &Path, n: usize) {
    std::fs::create_dir_all(data).unwrap();
    let mut rng = Rng::new(2);
    for b in 1..=5 {
        let records = solid_colour_records(&mut rng, n);
        std::fs::write(data.join(format!("data_batch_{b}.bin")), records).unwrap();
    }
    std::fs::write(
        data.join("test_batch.bin"),
        solid_colour_records(&mut rng, n),
    )
    .unwrap();
    let names = "red green blue cat deer dog frog horse ship truck";
    std::fs::write(data.join("batches.meta.txt"), names.replace(' ', "\n")).unwrap();
}

/// CIFAR binary records as a Keras-style `.npz`: the same images with their
/// channels interleaved (N×32×32×3), labels as u8.
fn records_as_interleaved(records: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut labels = Vec::new();
    let mut pixels = Vec::new();
    for r in records.chunks_exact(3073) {
        labels.push(r[0]);
        pixels.extend((0..3072).map(|i| r[1 + (i % 3) * 1024 + i / 3]));
    }
    (pixels, labels)
}

#[test]
fn cifar_models_predict_rgb_images_in_their_layout() {
    let dir = temp_dir("cifar_cli");
    let data = dir.join("cifar");
    write_solid_colour_cifar(&data, 30);
    let model = dir.join("m.safetensors");
    let m = model.to_str().unwrap();
    let out = ok(&[
        "train",
        "--cpu",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "5",
        "--hidden",
        "8",
        "--batch-size",
        "10",
        "--save",
        m,
    ]);
    assert!(out.contains("3×32×32"), "{out}");
    let png = dir.join("green.png");
    write_rgb_png(&png, [20, 220, 40]);
    let pred = ok(&["predict", "--model", m, png.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&pred).unwrap();
    assert_eq!(v[0]["name"], "green", "{pred}");
    assert_eq!(
        gpu_mlp::checkpoint::Checkpoint::load(&model)
            .unwrap()
            .settings
            .layout,
        Layout::Planes
    );
}

/// `predict` on a directory: its PNGs in name order (anything else skipped), each
/// of another size resized to the network's input with a note, as a CSV table
/// with a header, the class names and every class's probability. A solid colour
/// resized is the same image: the same probabilities, bit for bit.
#[test]
fn predict_reads_a_directory_resizes_and_prints_csv() {
    let dir = temp_dir("predict_batch");
    let data = dir.join("cifar");
    write_solid_colour_cifar(&data, 30);
    let model = dir.join("m.st");
    let (d, m) = (data.to_str().unwrap(), model.to_str().unwrap());
    let net = ["--hidden", "8", "--batch-size", "10", "--epochs", "5"];
    ok(&[&["train", "--cpu", "--data", d, "--save", m][..], &net].concat());
    let pngs = dir.join("pngs");
    std::fs::create_dir_all(&pngs).unwrap();
    write_rgb_png_sized(&pngs.join("a, green.png"), [20, 220, 40], (32, 32));
    write_rgb_png_sized(&pngs.join("b.PNG"), [20, 220, 40], (64, 48));
    write_rgb_png_sized(&pngs.join("c.png"), [220, 30, 40], (7, 9));
    std::fs::write(pngs.join("notes.txt"), "not an image").unwrap();
    let out = gpu_mlp(&["predict", "--model", m, pngs.to_str().unwrap(), "--to-csv"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows.len(), 4, "{stdout}");
    assert!(
        rows[0].starts_with("input,true,predicted,name,probability,p_red,p_green,p_blue,p_cat"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].starts_with(&format!(
            "\"{}\",,1,green,",
            pngs.join("a, green.png").display()
        )),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].contains(",,1,green,") && rows[3].contains(",,0,red,"),
        "{stdout}"
    );
    fn probabilities(row: &str) -> Vec<&str> {
        row.rsplitn(11, ',').take(10).collect()
    }
    assert_eq!(
        probabilities(rows[1]),
        probabilities(rows[2]),
        "resizing changed a solid colour"
    );
    assert!(
        stderr.contains("b.PNG is 64×48; resized to 32×32"),
        "{stderr}"
    );
    assert!(
        stderr.contains("c.png is 7×9; resized to 32×32"),
        "{stderr}"
    );
    assert!(!stderr.contains("a, green.png is"), "{stderr}");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = gpu_mlp(&["predict", "--model", m, empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a directory without .png files"));
}

/// A model trained on channel planes (CIFAR binary) reads a Keras `.npz` of the
/// same images (interleaved pixels) as those images: eval scores them as it scores
/// the CIFAR files, bit for bit, and a resumed run keeps the model's layout. The
/// library refuses such data until it is rearranged, naming both layouts.
#[test]
fn a_planes_model_reads_interleaved_images_as_the_same_images() {
    let dir = temp_dir("layout_cli");
    let cifar = dir.join("cifar");
    write_solid_colour_cifar(&cifar, 40);
    let npz = dir.join("same.npz");
    let split = |file: &str| {
        let (x, y) = records_as_interleaved(&std::fs::read(cifar.join(file)).unwrap());
        let n = y.len();
        (npy("|u1", &[n, 32, 32, 3], &x), npy("|u1", &[n], &y))
    };
    let ((x_train, y_train), (x_test, y_test)) =
        (split("data_batch_1.bin"), split("test_batch.bin"));
    let entries = [
        ("x_train", x_train),
        ("y_train", y_train),
        ("x_test", x_test),
        ("y_test", y_test),
    ];
    common::write_npz(&npz, &entries, false);
    let (model, resumed) = (dir.join("m.st"), dir.join("r.st"));
    let (c, n, m) = (
        cifar.to_str().unwrap(),
        npz.to_str().unwrap(),
        model.to_str().unwrap(),
    );
    let net = ["--hidden", "8", "--batch-size", "10", "--epochs", "3"];
    ok(&[&["train", "--cpu", "--data", c, "--save", m][..], &net].concat());
    let score = |data: &str| -> serde_json::Value {
        let out = ok(&["eval", "--cpu", "--model", m, "--data", data, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        serde_json::json!([v["loss"], v["accuracy"]])
    };
    let (on_planes, on_interleaved) = (score(c), score(n));
    assert_eq!(on_planes, on_interleaved, "the same images score otherwise");
    assert!(on_planes[1].as_f64().unwrap() > 0.9, "{on_planes}");
    if gpu().is_some() {
        let out = ok(&[
            "eval",
            "--backend",
            "vulkan",
            "--model",
            m,
            "--data",
            n,
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["accuracy"], on_planes[1],
            "the GPU reads the images otherwise"
        );
    }

    let r = resumed.to_str().unwrap();
    ok(&[
        "train", "--cpu", "--data", n, "--resume", m, "--epochs", "1", "--save", r,
    ]);
    let saved = gpu_mlp::checkpoint::Checkpoint::load(&resumed).unwrap();
    assert_eq!(
        (saved.settings.layout, saved.settings.channels),
        (Layout::Planes, 3)
    );

    let checkpoint = gpu_mlp::checkpoint::Checkpoint::load(&model).unwrap();
    let mut data = gpu_mlp::data::load(&npz, &Default::default()).unwrap();
    assert_eq!(data.layout, Layout::Interleaved);
    let err = gpu_mlp::eval::check_data_fits(&checkpoint, &model, &data).unwrap_err();
    for words in [
        "interleaved channels (H×W×C)",
        "channel planes (C×H×W)",
        "m.st",
    ] {
        assert!(err.to_string().contains(words), "{err}");
    }
    data.arrange_as(checkpoint.settings.arrangement());
    gpu_mlp::eval::check_data_fits(&checkpoint, &model, &data).unwrap();
}

#[test]
fn fashion_mnist_streamed_through_a_small_budget_gives_the_same_model() {
    let (Some(data), Some(_)) = (common::fashion_mnist(), gpu()) else {
        return;
    };
    let dir = temp_dir("stream_cli");
    let run = |budget: Option<&str>, name: &str| {
        let path = dir.join(name);
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-mlp"));
        cmd.args([
            "train",
            "--backend",
            "vulkan",
            "--epochs",
            "1",
            "--train-limit",
            "12000",
        ])
        .args(["--test-limit", "3000", "-q", "--data"])
        .arg(&data)
        .arg("--save")
        .arg(&path);
        if let Some(b) = budget {
            cmd.env("GPU_MLP_BINDING_BUDGET", b);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(path).unwrap()
    };
    // 12,000 images are 9.4 MB: a 2 MiB budget streams them in windows of 2,674.
    assert_eq!(
        run(None, "resident.safetensors"),
        run(Some("2M"), "streamed.safetensors")
    );
}

#[test]
fn an_exported_table_model_normalizes_inside_the_onnx_graph() {
    let Some(python) = common::python_with(&["numpy", "onnxruntime"]) else {
        return;
    };
    let dir = temp_dir("csv_onnx");
    let ds = float_dataset(11, 3, 4, (90, 20));
    let (train, test) = write_csv(&ds, &dir);
    let model = dir.join("m.safetensors").display().to_string();
    let onnx = dir.join("m.onnx").display().to_string();
    ok(&[
        "train",
        "--cpu",
        "--data",
        &train,
        "--test-data",
        &test,
        "--hidden",
        "6",
        "--epochs",
        "3",
        "--save",
        &model,
        "-q",
    ]);
    ok(&["export", "--model", &model, "--onnx", &onnx]);
    let ours: serde_json::Value = serde_json::from_str(&ok(&[
        "predict", "--model", &model, "--csv", &test, "--top", "3", "--json",
    ]))
    .unwrap();
    // Raw CSV values in; the graph applies (x − shift) · scale itself.
    let script = r#"
import sys, json, numpy as np, onnxruntime as ort
x = np.loadtxt(sys.argv[2], delimiter=",", skiprows=1, usecols=range(4), dtype=np.float32)
p = ort.InferenceSession(sys.argv[1]).run(["probabilities"], {"input": x})[0]
print(json.dumps(p.tolist()))
"#;
    let out =
        common::stdout_of(std::process::Command::new(python).args(["-c", script, &onnx, &test]));
    let theirs: Vec<Vec<f64>> = serde_json::from_slice(&out).unwrap();
    for (row, probs) in ours.as_array().unwrap().iter().zip(&theirs) {
        for entry in row["top"].as_array().unwrap() {
            let (c, p) = (
                entry["class"].as_u64().unwrap() as usize,
                entry["probability"].as_f64().unwrap(),
            );
            // The same f32 products summed in another order: a few ULP of a probability.
            assert!(
                (p - probs[c]).abs() < 1e-5,
                "class {c}: gpu-mlp {p}, onnxruntime {}",
                probs[c]
            );
        }
    }
}
