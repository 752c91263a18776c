//! The tasks beyond single-label classification, end to end through the command
//! line as a user runs them: regression (one and several targets), binary and
//! multilabel classifiers, weights, a thousand classes; both paths; resume; the
//! tutorial's linear regression against least squares; hostile targets.

mod common;

use std::path::{Path, PathBuf};

use common::{gpu, gpu_mlp, ok, temp_dir};
use gpu_mlp::rng::Rng;

/// A CSV of `n` rows: features `x0..x{d}` uniform in [−1, 1], then the columns
/// `targets(features, rng)` returns, under `names`.
fn write_csv(
    path: &Path,
    n: usize,
    d: usize,
    names: &[&str],
    targets: impl Fn(&[f64], &mut Rng) -> Vec<String>,
) {
    let mut rng = Rng::new(7);
    let header: Vec<String> = (0..d)
        .map(|j| format!("x{j}"))
        .chain(names.iter().map(|s| s.to_string()))
        .collect();
    let mut text = header.join(",") + "\n";
    for _ in 0..n {
        let x: Vec<f64> = (0..d).map(|_| rng.next_f64() * 2.0 - 1.0).collect();
        let cells: Vec<String> = x
            .iter()
            .map(|v| format!("{v}"))
            .chain(targets(&x, &mut rng))
            .collect();
        text += &(cells.join(",") + "\n");
    }
    std::fs::write(path, text).unwrap();
}

/// y = 3·x0 − 2·x1 + 0.5·x2 + 1, plus noise of ±`noise`.
fn linear(x: &[f64], rng: &mut Rng, noise: f64) -> f64 {
    3.0 * x[0] - 2.0 * x[1] + 0.5 * x[2] + 1.0 + noise * (rng.next_f64() * 2.0 - 1.0)
}

/// The tables of every task, with the flags that train each.
fn task_tables(dir: &Path) -> Vec<(PathBuf, Vec<&'static str>)> {
    let regress = dir.join("regress.csv");
    write_csv(&regress, 300, 4, &["y", "z"], |x, rng| {
        let y = linear(x, rng, 0.1);
        vec![
            format!("{y:.3}"),
            format!("{:.3}", 4.0 * x[3] + x[3] * x[0]),
        ]
    });
    let binary = dir.join("binary.csv");
    write_csv(&binary, 300, 4, &["label", "w"], |x, rng| {
        let yes = linear(x, rng, 1.0) > 1.5;
        vec![
            ["no", "yes"][yes as usize].into(),
            format!("{}", 1 + (x[3] > 0.0) as u8),
        ]
    });
    let multi = dir.join("multilabel.csv");
    write_csv(&multi, 300, 4, &["a", "b", "c"], |x, _| {
        (0..3).map(|j| format!("{}", (x[j] > 0.0) as u8)).collect()
    });
    let classes = dir.join("classes.csv");
    write_csv(&classes, 300, 4, &["label", "w"], |x, _| {
        let c = (x[0] > 0.0) as u8 + 2 * (x[1] > 0.5) as u8;
        vec![
            c.to_string(),
            format!("{}", 0.5 + (x[2] > 0.0) as u8 as f64),
        ]
    });
    vec![
        (
            regress,
            vec!["--target", "y,z", "--loss", "huber", "--huber-delta", "0.5"],
        ),
        (
            binary,
            vec![
                "--task",
                "binary",
                "--pos-weight",
                "2",
                "--class-weight",
                "balanced",
                "--weight-column",
                "w",
            ],
        ),
        (
            multi,
            vec![
                "--target",
                "a,b,c",
                "--task",
                "multilabel",
                "--pos-weight",
                "1,2,0.5",
                "--threshold",
                "0.4",
            ],
        ),
        (
            classes,
            vec!["--weight-column", "w", "--class-weight", "1,2,1,3"],
        ),
    ]
}

/// Trains `table` with `flags` (and `path`'s flags) for `epochs`, writing the
/// per-epoch metrics (returned, a JSON object per epoch) and saving to `model`.
fn train(table: &Path, flags: &[&str], path: &[&str], model: &Path) -> Vec<serde_json::Value> {
    let metrics = model.with_extension("jsonl");
    let mut args = vec![
        "train",
        "-q",
        "--data",
        table.to_str().unwrap(),
        "--test-split",
        "0.25",
        "--epochs",
        "12",
        "--batch-size",
        "32",
        "--optimizer",
        "adam",
        "--save",
        model.to_str().unwrap(),
        "--metrics",
        metrics.to_str().unwrap(),
    ];
    if !flags.contains(&"--hidden") {
        args.extend_from_slice(&["--hidden", "16", "--lr", "0.01"]);
    }
    args.extend_from_slice(flags);
    args.extend_from_slice(path);
    ok(&args);
    std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every figure of two runs' metrics agrees within `rel` (relative to the larger,
/// at least 1), and both have the same figures.
fn assert_figures_agree(what: &str, a: &[serde_json::Value], b: &[serde_json::Value], rel: f64) {
    assert_eq!(a.len(), b.len(), "{what}: epochs");
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.as_object().unwrap(), y.as_object().unwrap());
        let figures = |o: &serde_json::Map<String, serde_json::Value>| -> Vec<String> {
            let skip = ["backend", "seconds", "samples_per_second"];
            let mut k: Vec<String> = o
                .keys()
                .filter(|k| !skip.contains(&k.as_str()))
                .cloned()
                .collect();
            k.sort();
            k
        };
        assert_eq!(figures(x), figures(y), "{what}: figures");
        for key in figures(x) {
            let (p, q) = (x[&key].as_f64().unwrap(), y[&key].as_f64().unwrap());
            assert!(
                (p - q).abs() <= rel * p.abs().max(q.abs()).max(1.0),
                "{what}: {key} {p} vs {q}"
            );
        }
    }
}

#[test]
fn every_task_trains_to_its_figures_and_the_same_on_both_paths() {
    let dir = temp_dir("tasks_both_paths");
    let has_gpu = gpu().is_some();
    for (table, flags) in task_tables(&dir) {
        let name = table.file_stem().unwrap().to_str().unwrap().to_string();
        let cpu = train(
            &table,
            &flags,
            &["--cpu"],
            &dir.join(format!("{name}-cpu.st")),
        );
        let last = cpu.last().unwrap();
        // Each task reports its own figures, and they show it learned.
        match name.as_str() {
            "regress" => assert!(last["test_r2"].as_f64().unwrap() > 0.5, "{last}"),
            "binary" => assert!(last["test_auc"].as_f64().unwrap() > 0.8, "{last}"),
            "multilabel" => assert!(last["test_micro_f1"].as_f64().unwrap() > 0.6, "{last}"),
            _ => assert!(last["test_accuracy"].as_f64().unwrap() > 0.5, "{last}"),
        }
        assert_eq!(
            last.get("train_accuracy").is_none(),
            name == "regress",
            "{last}"
        );
        if has_gpu {
            let gpu = train(
                &table,
                &flags,
                &["--backend", "vulkan"],
                &dir.join(format!("{name}-gpu.st")),
            );
            // f32 on both paths, different summation orders and exp/log: a few ULP a
            // step, grown over 12 epochs of 8 steps of a small network; 1e-4 relative
            // is 1000 ULP of headroom, far below any real disagreement.
            assert_figures_agree(&name, &cpu, &gpu, 1e-4);
        }
        // The saved model evaluates to the run's last figures.
        let model = dir.join(format!("{name}-cpu.st"));
        let eval: serde_json::Value = serde_json::from_str(&ok(&[
            "eval",
            "--cpu",
            "--json",
            "--model",
            model.to_str().unwrap(),
        ]))
        .unwrap();
        let loss = eval["loss"].as_f64().unwrap();
        let want = last["test_loss"].as_f64().unwrap();
        assert!(
            (loss - want).abs() <= 1e-9 * want.max(1.0),
            "{name}: eval loss {loss} vs {want}"
        );
    }
}

/// Least squares in f64: the weights and intercept minimizing Σ(y − Xw − b)², by
/// the normal equations (a few unknowns, well conditioned).
fn least_squares(x: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let k = x[0].len() + 1;
    let mut a = vec![vec![0.0; k + 1]; k];
    for (row, &t) in x.iter().zip(y) {
        let r: Vec<f64> = row.iter().copied().chain([1.0]).collect();
        for i in 0..k {
            for j in 0..k {
                a[i][j] += r[i] * r[j];
            }
            a[i][k] += r[i] * t;
        }
    }
    for c in 0..k {
        let pivot = (c..k)
            .max_by(|&p, &q| a[p][c].abs().total_cmp(&a[q][c].abs()))
            .unwrap();
        a.swap(c, pivot);
        let pivot_row = a[c].clone();
        for (_, row) in a.iter_mut().enumerate().filter(|(r, _)| *r != c) {
            let f = row[c] / pivot_row[c];
            for (v, p) in row.iter_mut().zip(&pivot_row).skip(c) {
                *v -= f * p;
            }
        }
    }
    (0..k).map(|i| a[i][k] / a[i][i]).collect()
}

#[test]
fn with_no_hidden_layer_a_regression_is_least_squares() {
    let dir = temp_dir("tasks_lstsq");
    let table = dir.join("linear.csv");
    write_csv(&table, 400, 3, &["y"], |x, rng| {
        vec![format!("{}", linear(x, rng, 0.3))]
    });
    // The rows back, to solve the same problem exactly.
    let text = std::fs::read_to_string(&table).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    let x: Vec<Vec<f64>> = rows.iter().map(|r| r[..3].to_vec()).collect();
    let y: Vec<f64> = rows.iter().map(|r| r[3]).collect();
    let w = least_squares(&x, &y);
    let predict = |r: &[f64]| r.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + w[3];
    let probe = dir.join("probe.csv");
    let probe_rows = "x0,x1,x2\n0.5,-0.25,0.75\n-1,1,0\n0.1,0.2,-0.9\n";
    std::fs::write(&probe, probe_rows).unwrap();
    let paths: [&[&str]; 2] = [&["--cpu"], &["--backend", "vulkan"]];
    for path in paths.iter().take(1 + gpu().is_some() as usize) {
        let model = dir.join("linear.st");
        let mut args = vec![
            "train",
            "-q",
            "--data",
            table.to_str().unwrap(),
            "--test-data",
            table.to_str().unwrap(),
            "--hidden",
            "none",
            "--optimizer",
            "sgd",
            "--lr",
            "0.5",
            "--batch-size",
            "400",
            "--epochs",
            "300",
            "--save",
            model.to_str().unwrap(),
        ];
        args.extend_from_slice(path);
        ok(&args);
        let out: serde_json::Value = serde_json::from_str(&ok(&[
            "predict",
            "--json",
            "--model",
            model.to_str().unwrap(),
            "--csv",
            probe.to_str().unwrap(),
        ]))
        .unwrap();
        for (p, line) in out
            .as_array()
            .unwrap()
            .iter()
            .zip(probe_rows.lines().skip(1))
        {
            let r: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
            let got = p["outputs"][0]["value"].as_f64().unwrap();
            // Full-batch gradient descent on standardized inputs and targets contracts
            // the error by about half a step: 300 steps reach f32's rounding, here
            // ~1e-6 of the targets' spread (~2), so 1e-4 is a bound with room.
            let want = predict(&r);
            assert!(
                (got - want).abs() <= 1e-4 * 2.0,
                "{path:?}: {got} vs least squares {want}"
            );
        }
    }
}

#[test]
fn a_resumed_regression_continues_to_the_same_bits() {
    let dir = temp_dir("tasks_resume");
    let table = dir.join("r.csv");
    write_csv(&table, 200, 3, &["y"], |x, rng| {
        vec![format!("{}", linear(x, rng, 0.2))]
    });
    let t = table.to_str().unwrap();
    let paths: [&[&str]; 2] = [&["--cpu"], &["--backend", "vulkan"]];
    for path in paths.iter().take(1 + gpu().is_some() as usize) {
        let (whole, half) = (dir.join("whole.st"), dir.join("half.st"));
        let common = [
            "--data",
            t,
            "--test-split",
            "0.2",
            "--optimizer",
            "adam",
            "-q",
        ];
        let run = |epochs: &str, save: &Path, extra: &[&str]| {
            let mut args = vec![
                "train",
                "--epochs",
                epochs,
                "--save",
                save.to_str().unwrap(),
            ];
            args.extend_from_slice(&common);
            args.extend_from_slice(extra);
            args.extend_from_slice(path);
            ok(&args);
        };
        run("4", &whole, &[]);
        run("2", &half, &[]);
        run("2", &half, &["--resume", half.to_str().unwrap()]);
        let load = |p: &Path| gpu_mlp::checkpoint::Checkpoint::load(p).unwrap();
        let (a, b) = (load(&whole), load(&half));
        assert!(
            a.state.params == b.state.params,
            "{path:?}: parameters differ"
        );
        assert_eq!(a.settings.arch.head, b.settings.arch.head);
    }
}

#[test]
fn a_thousand_classes_train_on_both_paths() {
    let dir = temp_dir("tasks_thousand");
    let table = dir.join("k.csv");
    // Each class is a point in 8 dimensions; examples lie near their class's point.
    let mut rng = Rng::new(3);
    let centers: Vec<Vec<f64>> = (0..1000)
        .map(|_| (0..8).map(|_| rng.next_f64() * 2.0 - 1.0).collect())
        .collect();
    let mut text = String::from("a,b,c,d,e,f,g,h,label\n");
    for i in 0..4000 {
        let c = i % 1000;
        let x: Vec<String> = centers[c]
            .iter()
            .map(|v| format!("{}", v + 0.01 * (rng.next_f64() - 0.5)))
            .collect();
        text += &format!("{},{c}\n", x.join(","));
    }
    std::fs::write(&table, text).unwrap();
    let flags = ["--hidden", "64", "--lr", "0.01"];
    let cpu = train(&table, &flags, &["--cpu"], &dir.join("cpu.st"));
    let accuracy = cpu.last().unwrap()["test_accuracy"].as_f64().unwrap();
    assert!(
        accuracy > 0.01,
        "1000 classes: test accuracy {accuracy} is chance (0.001)"
    );
    if gpu().is_some() {
        let gpu = train(
            &table,
            &flags,
            &["--backend", "vulkan"],
            &dir.join("gpu.st"),
        );
        assert_figures_agree("1000 classes", &cpu, &gpu, 1e-4);
    }
}

/// `gpu-mlp args` fails, naming every one of `words`, without a panic.
fn refused(args: &[&str], words: &[&str]) {
    let out = gpu_mlp(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    for w in words {
        assert!(
            stderr.contains(w),
            "{args:?}: {stderr:?} does not say {w:?}"
        );
    }
}

#[test]
fn hostile_targets_are_refused_naming_the_problem() {
    let dir = temp_dir("tasks_hostile");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let train = |data: &str, extra: &[&str], words: &[&str]| {
        let mut args = vec![
            "train",
            "--cpu",
            "--epochs",
            "1",
            "--data",
            data,
            "--test-split",
            "0.5",
        ];
        args.extend_from_slice(extra);
        refused(&args, words);
    };
    let nan = write("nan.csv", "a,y\n1,0.5\n2,nan\n3,1.5\n4,2.5\n");
    train(
        &nan,
        &[],
        &["nan.csv", "row 3", "\"y\"", "not a finite number"],
    );
    let missing = write("missing.csv", "a,y,z\n1,0.5,1\n2,,2\n3,1.5,3\n");
    train(
        &missing,
        &["--target", "y,z"],
        &["missing.csv", "row 3", "target (\"y\") is missing"],
    );
    let flat = write("flat.csv", "a,y\n1,2.5\n2,2.5\n3,2.5\n4,2.5\n");
    train(&flat, &[], &["flat.csv", "\"y\"", "same value"]);
    let hot = write("hot.csv", "a,p,q\n1,0,1\n2,1,2\n3,1,0\n4,0,0\n");
    train(
        &hot,
        &["--target", "p,q", "--task", "multilabel"],
        &["hot.csv", "multilabel targets are 0 or 1"],
    );
    let three = write("three.csv", "a,label\n1,x\n2,y\n3,z\n4,x\n");
    train(
        &three,
        &["--task", "binary"],
        &["three.csv", "3 classes", "binary"],
    );
    train(
        &three,
        &["--pos-weight", "0"],
        &["--pos-weight 0 must be a positive number"],
    );
    train(
        &flat,
        &["--class-weight", "balanced", "--normalize-targets", "none"],
        &["--class-weight", "regress"],
    );
    train(
        &three,
        &["--task", "regress"],
        &["three.csv", "not a number"],
    );
    // Early stopping watches a figure the task reports, and only such a figure.
    let fit = dir.join("linear.csv");
    write_csv(&fit, 100, 3, &["y"], |x, rng| {
        vec![format!("{}", linear(x, rng, 0.1))]
    });
    let l = fit.to_str().unwrap();
    let watch = |monitor: &str| {
        let args = [
            "--val-split",
            "0.2",
            "--patience",
            "2",
            "--monitor",
            monitor,
        ];
        args.map(String::from)
    };
    let stop = watch("val_accuracy");
    let stop: Vec<&str> = stop.iter().map(String::as_str).collect();
    train(
        l,
        &stop,
        &["val_accuracy is not a figure of the regress task", "val_r2"],
    );
    let best = dir.join("best.st");
    let mut args = vec![
        "train",
        "--cpu",
        "-q",
        "--data",
        l,
        "--test-split",
        "0.2",
        "--epochs",
        "3",
    ];
    let r2 = watch("val_r2");
    args.extend(r2.iter().map(String::as_str));
    args.extend(["--save", best.to_str().unwrap()]);
    ok(&args);
    let c = gpu_mlp::checkpoint::Checkpoint::load(&best).unwrap();
    // The saved model is the best epoch's by its validation R².
    let last = c.state.history.last().unwrap();
    let r2 = gpu_mlp::report::figure(&last.val_figures, gpu_mlp::report::Figure::R2);
    assert_eq!(c.state.best.value, r2, "{:?}", c.state.best);
    assert_eq!(c.state.best.epoch, last.epoch);
    // A checkpoint's task is not overridden on resume.
    let numbers = write(
        "numbers.csv",
        "a,y\n1,0.5\n2,1.5\n3,1\n4,2.25\n5,3\n6,0.75\n",
    );
    let model = dir.join("r.st");
    let m = model.to_str().unwrap();
    ok(&[
        "train",
        "--cpu",
        "-q",
        "--epochs",
        "1",
        "--data",
        &numbers,
        "--test-split",
        "0.5",
        "--save",
        m,
    ]);
    train(
        &numbers,
        &["--resume", m, "--save", m, "--task", "classify"],
        &["regress"],
    );
}

#[test]
fn onnx_answers_what_predict_answers_for_every_task() {
    let Some(python) = common::python_with(&["numpy", "onnx", "onnxruntime"]) else {
        return;
    };
    let dir = temp_dir("tasks_onnx");
    for (table, flags) in task_tables(&dir) {
        let name = table.file_stem().unwrap().to_str().unwrap().to_string();
        let model = dir.join(format!("{name}.st"));
        train(&table, &flags, &["--cpu"], &model);
        let onnx = dir.join(format!("{name}.onnx"));
        ok(&[
            "export",
            "--model",
            model.to_str().unwrap(),
            "--onnx",
            onnx.to_str().unwrap(),
        ]);
        let m = gpu_mlp::Model::load(&model).unwrap();
        let task = m.architecture().task();
        let inputs = m.architecture().inputs();
        let mut rng = Rng::new(5);
        let x: Vec<f32> = (0..64 * inputs)
            .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
            .collect();
        // gpu-mlp's answer; a binary model's ONNX output is the positive class's alone.
        let answers = m.probabilities_f32(&x).unwrap();
        let want: Vec<f32> = answers
            .iter()
            .flat_map(|a| match task {
                gpu_mlp::Task::Binary => vec![a[1]],
                _ => a.clone(),
            })
            .collect();
        let output = match task {
            gpu_mlp::Task::Regress => "predictions",
            _ => "probabilities",
        };
        let (xs, ws) = (dir.join("x.f32"), dir.join("want.f32"));
        std::fs::write(&xs, bytemuck::cast_slice(&x)).unwrap();
        std::fs::write(&ws, bytemuck::cast_slice(&want)).unwrap();
        let out = std::process::Command::new(&python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/interop/onnx_answer.py"
            ))
            .args([
                onnx.to_str().unwrap(),
                xs.to_str().unwrap(),
                ws.to_str().unwrap(),
            ])
            .arg(inputs.to_string())
            .arg(output)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // f32 products summed in another order, and exp: a few ULP of the row's largest.
        assert!(r["max_rel_err"].as_f64().unwrap() <= 1e-5, "{name}: {r}");
        assert_eq!(
            r["shape"][1].as_u64().unwrap() as usize,
            want.len() / 64,
            "{name}: {r}"
        );
        assert_eq!(r["metadata"]["task"], task_name(task), "{name}: {r}");
    }
}

fn task_name(task: gpu_mlp::Task) -> &'static str {
    gpu_mlp::choice::Choice::name(task)
}
