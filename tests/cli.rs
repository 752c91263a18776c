//! The command line as a user meets it: bad flags exit 2 with a message that names
//! the flag, bad data exits 1 naming the file, a good run writes a well-formed
//! metrics file.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{synthetic_dataset, temp_dir, write_idx_dir};

fn gpu_mlp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args(args)
        .env_remove("GPU_MLP_DATA")
        .output()
        .expect("run gpu-mlp")
}

/// Runs gpu-mlp, which must succeed, and returns its stdout read as JSON.
fn json_of_success(args: &[&str]) -> serde_json::Value {
    let out = gpu_mlp(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gpu-mlp {args:?}: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs gpu-mlp, which must succeed, and returns what it said on stderr.
fn stderr_of_success(args: &[&str]) -> String {
    let out = gpu_mlp(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "gpu-mlp {args:?}: {stderr}");
    stderr
}

fn small_data(name: &str) -> std::path::PathBuf {
    let dir = temp_dir(name);
    write_idx_dir(&dir, &synthetic_dataset(31, 10, 5, 300, 100), true);
    dir
}

fn assert_fails(out: &Output, code: i32, words: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status; stderr: {stderr}"
    );
    assert!(
        stderr.contains(words),
        "stderr {stderr:?} does not say {words:?}"
    );
    assert!(!stderr.contains("panicked"), "panicked: {stderr}");
}

#[test]
fn invalid_flags_exit_2_with_a_clear_message() {
    let data = small_data("cli_bad_flags");
    let d = data.to_str().unwrap();
    let cases: [(&[&str], &str); 11] = [
        (
            &["--batch-size", "0"],
            "--batch-size 0 must be between 1 and",
        ),
        (
            &["--lr", "0"],
            "--lr 0 must be a finite number greater than 0",
        ),
        (&["--lr", "-1"], "--lr -1 must be"),
        (&["--lr", "NaN"], "--lr NaN must be"),
        (&["--lr", "inf"], "--lr inf must be"),
        (
            &["--hidden", "0"],
            "--hidden [0]: every hidden layer needs at least one unit",
        ),
        (&["--hidden", "64,,32"], "--hidden"),
        (&["--hidden", ""], "--hidden"),
        (&["--epochs", "0"], "--epochs 0 must be between 1 and"),
        (
            &["--train-limit", "301"],
            "--train-limit 301 is larger than the 300 examples",
        ),
        (
            &["--test-limit", "101"],
            "--test-limit 101 is larger than the 100 examples",
        ),
    ];
    for (flags, words) in cases {
        let mut args = vec!["train", "--cpu", "--data", d];
        args.extend_from_slice(flags);
        assert_fails(&gpu_mlp(&args), 2, words);
    }
    assert_fails(
        &gpu_mlp(&["train", "--cpu", "--activation", "softplus", "--data", d]),
        2,
        "softplus",
    );
    assert_fails(
        &gpu_mlp(&[
            "train",
            "--cpu",
            "--momentum",
            "1.5",
            "--optimizer",
            "momentum",
            "--data",
            d,
        ]),
        2,
        "--momentum 1.5",
    );
    assert_fails(
        &gpu_mlp(&["train", "--cpu", "--data", "/nonexistent/dir"]),
        2,
        "--data /nonexistent/dir: no such file or directory",
    );
}

#[test]
fn bad_data_exits_1_naming_the_file() {
    let data = small_data("cli_bad_data");
    let labels = data.join("train-labels-idx1-ubyte.gz");
    std::fs::write(&labels, b"\x1f\x8b garbage that is not deflate").unwrap();
    let out = gpu_mlp(&["train", "--cpu", "--data", data.to_str().unwrap()]);
    assert_fails(&out, 1, &labels.display().to_string());
}

fn read_metrics(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a JSON object"))
        .collect()
}

#[test]
fn a_cpu_run_prints_epochs_and_writes_a_well_formed_metrics_file() {
    let data = small_data("cli_good_run");
    let metrics = data.join("out").join("metrics.jsonl");
    std::fs::create_dir_all(metrics.parent().unwrap()).unwrap();
    let out = gpu_mlp(&[
        "train",
        "--cpu",
        "--data",
        data.to_str().unwrap(),
        "--hidden",
        "16,8",
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--metrics",
        metrics.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("network 25-16-8-10 sigmoid cross-entropy, 642 params"),
        "{stdout}"
    );
    assert!(stdout.contains("backend cpu"), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("epoch")).count(),
        3,
        "{stdout}"
    );
    let lines = read_metrics(&metrics);
    assert_eq!(lines.len(), 3);
    for (i, m) in lines.iter().enumerate() {
        assert_eq!(m["epoch"], i + 1);
        for key in ["train_loss", "test_loss", "test_accuracy", "seconds"] {
            assert!(m[key].as_f64().is_some_and(f64::is_finite), "{key} in {m}");
        }
        assert!(m["backend"].as_str().unwrap().starts_with("cpu"));
    }
    // No temporary files are left beside the metrics file.
    assert_eq!(
        std::fs::read_dir(metrics.parent().unwrap())
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn an_unwritable_metrics_path_fails_before_training() {
    let data = small_data("cli_bad_metrics");
    let out = gpu_mlp(&[
        "train",
        "--cpu",
        "--data",
        data.to_str().unwrap(),
        "--metrics",
        "/nonexistent/dir/m.jsonl",
    ]);
    assert_fails(&out, 1, "/nonexistent/dir/m.jsonl");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("epoch"));
}

#[test]
fn a_gpu_run_reports_the_adapter_in_metrics() {
    if common::gpu().is_none() {
        return;
    }
    let data = small_data("cli_gpu_run");
    let metrics = data.join("gpu.jsonl");
    let out = gpu_mlp(&[
        "train",
        "--backend",
        "vulkan",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "2",
        "--hidden",
        "12",
        "--metrics",
        metrics.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = read_metrics(&metrics);
    assert_eq!(lines.len(), 2);
    assert!(
        !lines[0]["backend"].as_str().unwrap().starts_with("cpu"),
        "{}",
        lines[0]
    );
}

#[test]
fn an_unknown_adapter_lists_the_ones_that_exist() {
    let data = small_data("cli_no_adapter");
    let out = gpu_mlp(&[
        "train",
        "--adapter",
        "no-such-gpu-xyz",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_fails(
        &out,
        1,
        "no GPU adapter whose name contains \"no-such-gpu-xyz\"",
    );
    assert_fails(&out, 1, "--cpu");
}

#[test]
fn devices_lists_adapters() {
    let out = gpu_mlp(&["devices"]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());
}

fn write_png(path: &Path, width: u32, height: u32, color: png::ColorType, data: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().unwrap().write_image_data(data).unwrap();
}

fn top_prediction(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.contains("predicted:"))
        .unwrap_or_else(|| panic!("no prediction in {stdout}"));
    line[line.find("predicted:").unwrap()..]
        .split('(')
        .next()
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn eval_predict_and_plot_work_on_a_saved_model() {
    let data = small_data("cli_eval_predict");
    let d = data.to_str().unwrap();
    let model = data.join("m.safetensors");
    let plot = data.join("curves.png");
    let metrics = data.join("m.jsonl");
    let out = gpu_mlp(&[
        "train",
        "--cpu",
        "--data",
        d,
        "--hidden",
        "32",
        "--epochs",
        "3",
        "--activation",
        "relu",
        "--save",
        model.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
        "--metrics",
        metrics.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --quiet: one line, the final result.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("epoch 3 test_loss"), "{stdout}");

    // The plot is a real PNG of the documented size.
    let decoder = png::Decoder::new(std::fs::File::open(&plot).unwrap());
    let reader = decoder.read_info().unwrap();
    assert_eq!(
        (reader.info().width, reader.info().height),
        (gpu_mlp::plot::WIDTH, gpu_mlp::plot::HEIGHT)
    );

    // eval --json agrees with the last epoch of training.
    let out = gpu_mlp(&[
        "eval",
        "--cpu",
        "--data",
        d,
        "--model",
        model.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&metrics)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(e["accuracy"], last["test_accuracy"]);
    let confusion: Vec<Vec<u64>> = serde_json::from_value(e["confusion"].clone()).unwrap();
    assert_eq!(confusion.len(), 10);
    assert_eq!(confusion.iter().flatten().sum::<u64>(), 100);
    let diagonal: u64 = (0..10).map(|c| confusion[c][c]).sum();
    assert!((diagonal as f64 / 100.0 - e["accuracy"].as_f64().unwrap()).abs() < 1e-12);
    let per_class = e["per_class"].as_array().unwrap();
    assert_eq!(per_class.len(), 10);
    let examples: u64 = per_class
        .iter()
        .map(|c| c["examples"].as_u64().unwrap())
        .sum();
    assert_eq!(examples, 100);
    for (c, row) in per_class.iter().enumerate() {
        let expected = confusion[c][c] as f64 / confusion[c].iter().sum::<u64>().max(1) as f64;
        assert!(
            (row["accuracy"].as_f64().unwrap() - expected).abs() < 1e-12,
            "{row}"
        );
    }

    // --split train evaluates the training examples; --train-limit needs it.
    let out = gpu_mlp(&[
        "eval",
        "--cpu",
        "--data",
        d,
        "--model",
        model.to_str().unwrap(),
        "--json",
        "--split",
        "train",
        "--train-limit",
        "150",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (t["split"].as_str(), t["examples"].as_u64()),
        (Some("train"), Some(150))
    );
    let confusion: Vec<Vec<u64>> = serde_json::from_value(t["confusion"].clone()).unwrap();
    assert_eq!(confusion.iter().flatten().sum::<u64>(), 150);

    // The table form.
    let out = gpu_mlp(&[
        "eval",
        "--cpu",
        "--data",
        d,
        "--model",
        model.to_str().unwrap(),
    ]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("confusion matrix (rows: true class, columns: predicted)"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .filter(|l| l.trim_end().ends_with(char::is_numeric))
            .count()
            >= 20,
        "{table}"
    );

    // predict --index shows the example and its label; the same image as a PNG
    // (grayscale, and as opaque RGBA) gets the same prediction.
    let out = gpu_mlp(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--index",
        "7",
        "--data",
        d,
    ]);
    let by_index = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && by_index.contains("true:"),
        "{by_index}"
    );
    // The labels first, unindented, then the picture, with no trailing blanks.
    let labels: Vec<&str> = by_index.lines().skip(1).take(2).collect();
    assert!(
        labels[0].starts_with("true:") && labels[1].starts_with("predicted:"),
        "{by_index}"
    );
    assert!(by_index.lines().all(|l| l == l.trim_end()), "{by_index}");
    let ds = gpu_mlp::data::load_dir(&data, 10).unwrap();
    let img = ds.test.image(7).unwrap().to_vec();
    let gray = data.join("seven.png");
    write_png(&gray, 5, 5, png::ColorType::Grayscale, &img);
    let rgba: Vec<u8> = img.iter().flat_map(|&p| [p, p, p, 255]).collect();
    let color = data.join("seven-rgba.png");
    write_png(&color, 5, 5, png::ColorType::Rgba, &rgba);
    for file in [&gray, &color] {
        let out = gpu_mlp(&[
            "predict",
            "--model",
            model.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            top_prediction(&String::from_utf8_lossy(&out.stdout)),
            top_prediction(&by_index)
        );
    }

    // predict --json: one object per input, probabilities summing to 1 over
    // all classes when --top covers them, agreeing with the text form.
    let out = gpu_mlp(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--json",
        "--top",
        "10",
        "--index",
        "7",
        "--data",
        d,
        gray.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = p.as_array().unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0]["true"].as_u64(), Some(ds.test.labels()[7] as u64));
    assert!(p[1].get("true").is_none_or(|t| t.is_null()), "{}", p[1]);
    for q in p {
        let top = q["top"].as_array().unwrap();
        assert_eq!(top.len(), 10);
        let total: f64 = top.iter().map(|t| t["probability"].as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-5, "{q}");
        assert_eq!(q["predicted"], top[0]["class"]);
    }
    assert_eq!(p[0]["predicted"], p[1]["predicted"]);

    // A dark-on-light image gets a warning; --invert (or a dark one) none.
    let white = data.join("white.png");
    write_png(&white, 5, 5, png::ColorType::Grayscale, &[255; 25]);
    let w = white.to_str().unwrap();
    let warned = |extra: &[&str]| {
        let mut args = vec!["predict", "--model", model.to_str().unwrap(), w];
        args.extend_from_slice(extra);
        let out = gpu_mlp(&args);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).contains("looks dark on a light background")
    };
    assert!(warned(&[]));
    assert!(!warned(&["--invert"]));

    // Another size is resized, with a note; non-PNG files are refused, naming the file.
    let big = data.join("big.png");
    write_png(&big, 6, 5, png::ColorType::Grayscale, &[0; 30]);
    let resized = gpu_mlp(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        big.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&resized.stderr);
    assert!(resized.status.success(), "{stderr}");
    assert!(
        stderr.contains("big.png is 6×5; resized to 5×5, the network's input"),
        "{stderr}"
    );
    assert_fails(
        &gpu_mlp(&[
            "predict",
            "--model",
            model.to_str().unwrap(),
            metrics.to_str().unwrap(),
        ]),
        1,
        "not a readable PNG",
    );
    assert_fails(
        &gpu_mlp(&[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--index",
            "100",
            "--data",
            d,
        ]),
        2,
        "--index 100 is out of range",
    );
}

#[test]
fn checkpoint_every_needs_save_and_outputs_are_checked_before_training() {
    let data = small_data("cli_ckpt_flags");
    let d = data.to_str().unwrap();
    let out = gpu_mlp(&["train", "--cpu", "--data", d, "--checkpoint-every", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--save"));
    let out = gpu_mlp(&[
        "train",
        "--cpu",
        "--data",
        d,
        "--save",
        "/nonexistent/dir/m.safetensors",
    ]);
    assert_fails(&out, 1, "/nonexistent/dir/m.safetensors");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("epoch"));
}

#[test]
fn a_bad_matmul_choice_fails_naming_the_variable_or_the_limit() {
    let Some(ctx) = common::gpu() else { return };
    let run = |variant: &str, data: &Path, batch: &str| {
        Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
            .args([
                "train",
                "--backend",
                "vulkan",
                "--epochs",
                "1",
                "--hidden",
                "4",
            ])
            .args(["--data", data.to_str().unwrap(), "--batch-size", batch])
            .env("GPU_MLP_MATMUL", variant)
            .output()
            .expect("run gpu-mlp")
    };
    let data = small_data("cli_bad_matmul");
    // A configuration error, like a bad flag: exit 2.
    assert_fails(
        &run("fastest", &data, "10"),
        2,
        "GPU_MLP_MATMUL=\"fastest\"",
    );
    // A batch taller than the adapter's largest texture cannot use texture operands.
    let rows = ctx.limits.max_texture_dimension_2d as usize + 1;
    let tall = temp_dir("cli_tall_batch");
    write_idx_dir(&tall, &synthetic_dataset(32, 2, 2, rows, 10), true);
    let out = run("texture", &tall, &rows.to_string());
    assert_fails(&out, 1, "max_texture_dimension_2d");
    assert_fails(&out, 1, "GPU_MLP_MATMUL=blocked");
}

/// With only a software adapter (lavapipe), the default device is the CPU path,
/// said in one line, and Mesa's loader stays quiet even without XDG_RUNTIME_DIR;
/// `--backend vulkan` still uses the adapter.
#[test]
fn the_default_device_is_the_cpu_when_only_a_software_adapter_exists() {
    let adapters = gpu_mlp::gpu::list_adapters(gpu_mlp::gpu::BackendChoice::Auto);
    if adapters
        .iter()
        .any(|a| a.device_type != wgpu::DeviceType::Cpu)
    {
        println!("SKIPPED: this machine has a hardware adapter");
        return;
    }
    let data = small_data("cli_default_device");
    let d = data.to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
        .args(["train", "--data", d, "--epochs", "1"])
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("backend cpu ("), "{stdout}");
    // One note about the adapter (of up to two 80-column lines); the other lines
    // are the note that a 3-step run is short.
    let adapter_note: Vec<&str> = stderr
        .split("note: ")
        .filter(|n| n.contains("software"))
        .collect();
    assert_eq!(adapter_note.len(), 1, "{stderr}");
    assert!(adapter_note[0].lines().count() <= 2, "{stderr}");
    assert!(
        stderr.starts_with("note: ") && stderr.contains("--backend vulkan"),
        "{stderr}"
    );
    if common::gpu().is_some() {
        let out = gpu_mlp(&["train", "--data", d, "--epochs", "1", "--backend", "vulkan"]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("llvmpipe"));
    }
}

#[test]
fn completions_cover_every_subcommand_and_flag() {
    for shell in ["bash", "zsh", "fish"] {
        let out = gpu_mlp(&["completions", shell]);
        assert!(out.status.success());
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["export", "--val-split", "--lr-schedule", "--dropout"] {
            // fish lists long flags without their dashes (`-l val-split`).
            let word = if shell == "fish" {
                word.trim_start_matches('-')
            } else {
                word
            };
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    assert_fails(&gpu_mlp(&["completions", "tcsh"]), 2, "tcsh");
}

/// Where the only adapters are software ones, `--backend auto` says so once, in
/// lines of at most 80 columns, and `-q` silences it; with a hardware GPU it says
/// nothing.
#[test]
fn the_software_adapter_note_fits_80_columns_is_said_once_and_quiet_silences_it() {
    let dir = small_data("cli_note");
    let d = dir.to_str().unwrap();
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--data", d, "--epochs", "1"];
        args.extend_from_slice(extra);
        stderr_of_success(&args)
    };
    let stderr = train(&[]);
    // The note for a software adapter, or for none at all.
    let notes =
        stderr.matches("software adapter").count() + stderr.matches("no GPU adapter").count();
    match gpu_mlp::gpu::context::software_only() {
        Some(adapters) => {
            assert_eq!(notes, 1, "{stderr}");
            assert!(stderr.lines().all(|l| l.chars().count() <= 80), "{stderr}");
            if !adapters.is_empty() {
                assert!(stderr.contains("--backend vulkan"), "{stderr}");
            }
        }
        None => assert_eq!(notes, 0, "{stderr}"),
    }
    let quiet = train(&["-q"]);
    assert!(quiet.is_empty(), "{quiet}");
}

/// A fresh run of fewer than 100 optimizer steps (a small table with the
/// defaults) says so and what would give more; enough steps, or `-q`, say nothing.
#[test]
fn a_run_of_few_steps_says_how_to_take_more() {
    let dir = temp_dir("cli_few_steps");
    let table = dir.join("small.csv");
    common::write_table(&table, 150, ["x", "y", "z"]);
    let t = table.to_str().unwrap();
    let stderr = |extra: &[&str]| {
        let mut args = vec!["train", "--cpu", "--data", t, "--test-split", "0.2"];
        args.extend_from_slice(extra);
        stderr_of_success(&args)
    };
    let few = stderr(&[]);
    assert!(
        few.contains("10 optimizer steps") && few.contains("--epochs 50"),
        "{few}"
    );
    assert!(few.lines().all(|l| l.chars().count() <= 80), "{few}");
    assert!(!stderr(&["--epochs", "50"]).contains("optimizer steps"));
    assert!(!stderr(&["-q"]).contains("optimizer steps"));
}

/// `--val-data` in another format than the training table is read as that format
/// (its test split validates): a problem with it never speaks of `--test-data`.
#[test]
fn val_data_of_another_format_is_read_as_that_format() {
    let dir = temp_dir("cli_val_npz");
    let table = dir.join("train.csv");
    common::write_table(&table, 60, ["0", "1", "2"]);
    let npz = dir.join("val.npz");
    let x = common::npy("<f4", &[4, 2], &[0u8; 32]);
    let y = common::npy("|u1", &[4], &[0, 1, 2, 0]);
    common::write_npz(&npz, &[("x_train", x), ("y_train", y)], false);
    let (t, v) = (table.to_str().unwrap(), npz.to_str().unwrap());
    let out = gpu_mlp(&[
        "train",
        "--cpu",
        "--data",
        t,
        "--test-split",
        "0.2",
        "--val-data",
        v,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("x_test") && !stderr.contains("--test-data"),
        "{stderr}"
    );
}

/// `eval --data held_out.csv` alone evaluates every row of the file.
#[test]
fn eval_of_one_table_evaluates_all_its_rows() {
    let dir = temp_dir("cli_eval_table");
    let (table, model) = (dir.join("rows.csv"), dir.join("m.st"));
    common::write_table(&table, 90, ["a", "b", "c"]);
    common::train_table_model(&table, &model);
    let (t, m) = (table.to_str().unwrap(), model.to_str().unwrap());
    let out = gpu_mlp(&["eval", "--cpu", "--json", "--model", m, "--data", t]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["examples"], 90, "{report}");
}

/// A model remembers where and how its data was read: `eval`, `predict --index`
/// and `--resume` without `--data` read the same table with the same label column
/// and held-out rows, from any working directory.
#[test]
fn without_data_a_model_reads_what_it_was_trained_on() {
    let dir = temp_dir("cli_source");
    let table = dir.join("wine.csv");
    let rows: String = (0..100)
        .map(|i| format!("{},{}.5,{}\n", ["p", "q"][i % 2], i % 5, i % 3))
        .collect();
    std::fs::write(&table, format!("kind,x,y\n{rows}")).unwrap();
    let (t, model) = (table.to_str().unwrap(), dir.join("m.st"));
    let m = model.to_str().unwrap();
    let flags = [
        "--data",
        t,
        "--label-column",
        "kind",
        "--test-split",
        "0.3",
        "--epochs",
        "20",
    ];
    let mut train = vec!["train", "--cpu", "-q", "--save", m];
    train.extend_from_slice(&flags);
    let trained = gpu_mlp(&train);
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let printed = String::from_utf8_lossy(&trained.stdout).into_owned();
    let elsewhere = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
            .args(args)
            .current_dir("/")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let eval = elsewhere(&["eval", "--cpu", "--json", "--model", m]);
    let report: serde_json::Value = serde_json::from_str(&eval).unwrap();
    assert_eq!(report["examples"], 30, "{report}");
    let accuracy = format!("{:.2}%", 100.0 * report["accuracy"].as_f64().unwrap());
    assert!(printed.contains(&accuracy), "{printed} vs {accuracy}");
    let predicted = elsewhere(&["predict", "--model", m, "--index", "0"]);
    assert!(
        predicted.contains("true:") && predicted.contains(t),
        "{predicted}"
    );
    let more = dir.join("more.st");
    let more = more.to_str().unwrap();
    let resumed = elsewhere(&[
        "train", "--cpu", "-q", "--resume", m, "--epochs", "1", "--save", more,
    ]);
    assert!(resumed.contains("epoch 21"), "{resumed}");
}

/// A table of three features with distinct scales and a class from the first.
fn table(columns: [&str; 3], rows: usize) -> String {
    let mut text = format!("{},{},{},label\n", columns[0], columns[1], columns[2]);
    for i in 0..rows {
        let (a, b, c) = (i % 7, 100 + (i * 13) % 50, (i * 7) % 3);
        text += &format!("{a},{b},{c},{}\n", (a > 3) as u8);
    }
    text
}

/// The same table with its columns in another order (the label last still).
fn swapped(text: &str) -> String {
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{},{},{},{}\n", f[2], f[0], f[1], f[3])
        })
        .collect()
}

#[test]
fn a_models_tables_are_read_by_column_name_not_position() {
    let dir = temp_dir("cli_columns_by_name");
    let train_text = table(["a", "b", "c"], 200);
    let (train, moved, renamed) = (
        dir.join("train.csv"),
        dir.join("moved.csv"),
        dir.join("renamed.csv"),
    );
    std::fs::write(&train, &train_text).unwrap();
    std::fs::write(&moved, swapped(&train_text)).unwrap();
    std::fs::write(&renamed, train_text.replacen("a,b,c", "a,b,z", 1)).unwrap();
    let model = dir.join("m.st");
    let (t, m) = (train.to_str().unwrap(), model.to_str().unwrap());
    stderr_of_success(&[
        "train",
        "--cpu",
        "--data",
        t,
        "--test-split",
        "0.2",
        "--epochs",
        "3",
        "-q",
        "--save",
        m,
    ]);
    let eval = |data: &Path| {
        let d = data.to_str().unwrap();
        let v = json_of_success(&["eval", "--cpu", "--json", "--model", m, "--data", d]);
        (v["loss"].clone(), v["accuracy"].clone())
    };
    // eval of the whole table, and predict of its rows: the same with the columns moved.
    assert_eq!(eval(&train), eval(&moved));
    let predict = |data: &Path| {
        let d = data.to_str().unwrap();
        let v = json_of_success(&["predict", "--json", "--model", m, "--csv", d]);
        // Each row's answer, without the file name it names.
        let rows = v.as_array().unwrap().iter();
        rows.map(|r| (r["top"].clone(), r["true"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(predict(&train), predict(&moved));
    // A column the model never saw, and one it needs missing: refused by name.
    for args in [
        vec![
            "eval",
            "--cpu",
            "--model",
            m,
            "--data",
            renamed.to_str().unwrap(),
        ],
        vec!["predict", "--model", m, "--csv", renamed.to_str().unwrap()],
    ] {
        assert_fails(&gpu_mlp(&args), 1, "missing [\"c\"], extra [\"z\"]");
    }
}

#[test]
fn class_names_must_cover_the_classes_and_extra_ones_are_said() {
    let dir = small_data("cli_class_names");
    let d = dir.to_str().unwrap();
    let run = |names: &str| {
        gpu_mlp(&[
            "train",
            "--cpu",
            "--data",
            d,
            "--epochs",
            "1",
            "-q",
            "--class-names",
            names,
        ])
    };
    // Fewer names than the labels' 10 classes: the flag is the problem, not the data.
    assert_fails(&run("a,b,c"), 2, "--class-names 3 names for the 10 classes");
    // More: allowed (a subset of a larger set), but said.
    let out = run("a,b,c,d,e,f,g,h,i,j,k,l");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("classes 10 to 11 never appear"), "{stderr}");
}

#[test]
fn resume_refuses_a_new_dropout_or_validation_split() {
    let dir = small_data("cli_resume_flags");
    let d = dir.to_str().unwrap();
    let (plain, held) = (dir.join("plain.st"), dir.join("held.st"));
    let (p, h) = (plain.to_str().unwrap(), held.to_str().unwrap());
    let train = |extra: &[&str]| {
        let mut args = vec!["train", "--cpu", "--data", d, "--epochs", "1", "-q"];
        args.extend_from_slice(extra);
        gpu_mlp(&args)
    };
    assert!(train(&["--save", p]).status.success());
    assert!(
        train(&["--val-split", "0.2", "--dropout", "0.1", "--save", h])
            .status
            .success()
    );
    let cases: [(&[&str], &str); 4] = [
        (
            &["--resume", h, "--dropout", "0.3"],
            "--dropout 0.3 conflicts with the checkpoint's 0.1",
        ),
        (
            &["--resume", p, "--dropout", "0.3"],
            "--dropout 0.3 conflicts with the checkpoint's 0",
        ),
        (
            &["--resume", h, "--val-split", "0.5"],
            "--val-split 0.5 conflicts with the checkpoint's 0.2",
        ),
        (
            &["--resume", p, "--val-split", "0.2"],
            "the checkpoint held no validation split out",
        ),
    ];
    let out = dir.join("out.st");
    let o = out.to_str().unwrap();
    for (args, words) in cases {
        assert_fails(&train(&[args, &["--save", o]].concat()), 2, words);
    }
    // The checkpoint's own values are accepted.
    let same = train(&[
        "--resume",
        h,
        "--val-split",
        "0.2",
        "--dropout",
        "0.1",
        "--save",
        o,
    ]);
    assert!(
        same.status.success(),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
}

#[test]
fn class_names_that_are_not_the_models_are_refused() {
    let dir = temp_dir("cli_names_swap");
    let table = dir.join("pets.csv");
    let rows: String = (0..100)
        .map(|i| format!("{},{}\n", i % 2, ["cat", "dog"][i % 2]))
        .collect();
    std::fs::write(&table, format!("a,label\n{rows}")).unwrap();
    let (t, model) = (table.to_str().unwrap(), dir.join("m.st"));
    let m = model.to_str().unwrap();
    stderr_of_success(&[
        "train",
        "--cpu",
        "--data",
        t,
        "--test-split",
        "0.2",
        "--epochs",
        "1",
        "-q",
        "--save",
        m,
    ]);
    // dog,cat would swap the model's two classes: refused; its own names pass.
    let eval = |names: &str| {
        gpu_mlp(&[
            "eval",
            "--cpu",
            "--model",
            m,
            "--data",
            t,
            "--class-names",
            names,
        ])
    };
    assert_fails(
        &eval("dog,cat"),
        2,
        "--class-names \"dog\",\"cat\" conflicts with the model's classes \"cat\",\"dog\"",
    );
    assert!(eval("cat,dog").status.success());
    let resumed = gpu_mlp(&[
        "train",
        "--cpu",
        "--resume",
        m,
        "--data",
        t,
        "--test-split",
        "0.2",
        "--class-names",
        "dog,cat",
        "--save",
        m,
    ]);
    assert_fails(&resumed, 2, "conflicts with the model's classes");
}
