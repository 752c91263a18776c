//! The training features users control: early stopping stops at the right epoch
//! and keeps the best model, and a run with a validation split, dropout, AdamW
//! and a cosine schedule resumes mid-schedule to the same bits, on both paths.

mod common;

use std::path::{Path, PathBuf};

use common::{gpu, ok, synthetic_dataset, temp_dir, write_idx_dir};
use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::report::{BestSoFar, EarlyStopping, EpochReport, Monitor};

fn data(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    write_idx_dir(&dir, &synthetic_dataset(41, 10, 6, 1200, 300), true);
    dir
}

fn report(epoch: usize, val_loss: f64, val_accuracy: f64) -> EpochReport {
    EpochReport {
        epoch,
        train_loss: 1.0,
        train_accuracy: Some(0.5),
        val_loss: Some(val_loss),
        val_accuracy: Some(val_accuracy),
        test_loss: None,
        test_accuracy: None,
        val_figures: Vec::new(),
        test_figures: Vec::new(),
        seconds: Some(1.0),
        samples_per_second: Some(1.0),
        lr: 0.1,
        best: false,
        best_so_far: BestSoFar::default(),
    }
}

#[test]
fn early_stopping_stops_after_patience_epochs_without_improvement() {
    // val_loss by epoch: improves at 1, 2 and 4; epochs 5, 6, 7 do not.
    let losses = [0.9, 0.7, 0.75, 0.6, 0.6, 0.65, 0.61, 0.5];
    let accuracies = [0.5, 0.6, 0.6, 0.7, 0.71, 0.69, 0.7, 0.71];
    for (monitor, best_epoch, stop_epoch) in
        [(Monitor::ValLoss, 4, 7), (Monitor::ValAccuracy, 5, 8)]
    {
        let stopping = EarlyStopping {
            patience: 3,
            monitor,
        };
        let mut best = BestSoFar::default();
        let mut stopped = None;
        for (i, (&l, &a)) in losses.iter().zip(&accuracies).enumerate() {
            stopping.observe(&mut best, &report(i + 1, l, a));
            if stopping.should_stop(&best) {
                stopped = Some(i + 1);
                break;
            }
        }
        assert_eq!(best.epoch, best_epoch, "{monitor:?}");
        assert_eq!(
            stopped,
            Some(stop_epoch).filter(|&e| e <= losses.len()),
            "{monitor:?}"
        );
    }
}

fn epochs_in(stdout: &str) -> usize {
    stdout.lines().filter(|l| l.starts_with("epoch ")).count()
}

#[test]
fn a_real_run_stops_early_and_saves_the_best_epochs_model() {
    let Some(fashion) = common::fashion_mnist() else {
        return;
    };
    let dir = temp_dir("tf_early");
    let d = fashion.to_str().unwrap();
    let (best, last) = (dir.join("best.st"), dir.join("last.st"));
    // 3000 examples and a wide network at a high rate: it overfits within a few
    // epochs, and the validation loss turns up.
    let limits = ["--train-limit", "3000", "--test-limit", "2000"];
    let mut args = vec!["train", "--cpu", "--data", d, "--hidden", "256"];
    args.extend_from_slice(&limits);
    args.extend_from_slice(&[
        "--activation",
        "relu",
        "--optimizer",
        "adam",
        "--lr",
        "0.005",
    ]);
    args.extend_from_slice(&["--val-split", "0.2", "--patience", "2", "--epochs", "60"]);
    args.extend_from_slice(&["--save", best.to_str().unwrap()]);
    args.extend_from_slice(&["--save-last", last.to_str().unwrap()]);
    let out = ok(&args);
    assert!(out.contains("stopped early"), "{out}");
    let (b, l) = (
        Checkpoint::load(&best).unwrap(),
        Checkpoint::load(&last).unwrap(),
    );
    assert_eq!(l.state.epochs_trained, epochs_in(&out), "{out}");
    assert_eq!(l.state.epochs_trained, b.state.epochs_trained + 2, "{out}");
    // The saved best is the epoch with the lowest validation loss, marked with *.
    let lowest = l
        .state
        .history
        .iter()
        .min_by(|x, y| x.val_loss.unwrap().total_cmp(&y.val_loss.unwrap()))
        .unwrap();
    assert_eq!(b.state.epochs_trained, lowest.epoch);
    let marked = out.lines().rfind(|line| line.ends_with('*')).unwrap();
    let marked_epoch = marked.split_whitespace().nth(1).unwrap();
    assert!(
        marked_epoch.starts_with(&format!("{}/", lowest.epoch)),
        "{marked}"
    );
    // `eval` of the saved model gives the test figures the run printed for it.
    let printed = out.lines().find(|l| l.starts_with("test ")).unwrap();
    let mut eval = vec!["eval", "--cpu", "--data", d, "--json"];
    eval.extend_from_slice(&limits[2..]);
    eval.extend_from_slice(&["--model", best.to_str().unwrap()]);
    let eval: serde_json::Value = serde_json::from_str(&ok(&eval)).unwrap();
    let accuracy = format!("{:.2}%", 100.0 * eval["accuracy"].as_f64().unwrap());
    assert!(printed.contains(&accuracy), "{printed} vs eval {accuracy}");
    // The test set was not evaluated per epoch: the metrics never saw it.
    assert!(l
        .state
        .history
        .iter()
        .all(|r| r.test_loss.is_none() && r.val_loss.is_some()));
}

fn bits(path: &Path) -> Vec<u32> {
    let c = Checkpoint::load(path).unwrap();
    c.state
        .params
        .iter()
        .chain(&c.state.optimizer.m)
        .chain(&c.state.optimizer.v)
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn resuming_mid_schedule_with_dropout_and_adamw_gives_the_same_bits() {
    let mut devices = vec![vec!["--cpu"]];
    if gpu().is_some() {
        devices.push(vec!["--backend", "vulkan"]);
    }
    let dir = data("tf_resume");
    let d = dir.to_str().unwrap();
    let recipe = [
        "--hidden",
        "32,16",
        "--activation",
        "relu",
        "--optimizer",
        "adamw",
        "--lr",
        "0.003",
        "--dropout",
        "0.2",
        "--lr-schedule",
        "cosine",
        "--lr-span",
        "4",
        "--warmup",
        "1",
        "--val-split",
        "0.2",
        "--patience",
        "5",
        "-q",
    ];
    for device in devices {
        let (whole, part) = (dir.join("whole.st"), dir.join("part.st"));
        let mut base = vec!["train", "--data", d];
        base.extend_from_slice(&device);
        base.extend_from_slice(&recipe);
        let mut four = base.clone();
        four.extend_from_slice(&["--epochs", "4", "--save", whole.to_str().unwrap()]);
        ok(&four);
        let mut two = base.clone();
        two.extend_from_slice(&["--epochs", "2", "--save", part.to_str().unwrap()]);
        ok(&two);
        // The schedule, split, dropout and early stopping come from the checkpoint.
        let mut more = vec!["train", "--data", d, "-q", "--epochs", "2"];
        more.extend_from_slice(&device);
        let p = part.to_str().unwrap();
        more.extend_from_slice(&["--resume", p, "--save", p]);
        ok(&more);
        assert_eq!(
            bits(&whole),
            bits(&part),
            "{device:?}: 2 + 2 epochs differ from 4"
        );
        let (a, b) = (
            Checkpoint::load(&whole).unwrap(),
            Checkpoint::load(&part).unwrap(),
        );
        let lrs = |c: &Checkpoint| {
            c.state
                .history
                .iter()
                .map(|r| r.lr.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(lrs(&a), lrs(&b), "{device:?}: the lr sequence differs");
        assert_eq!(
            (a.state.best, a.state.rng_state),
            (b.state.best, b.state.rng_state)
        );
    }
}

/// The recipe on the GPU matches the CPU reference: two epochs of validation split,
/// dropout, AdamW and a cosine schedule. The paths differ by summation order only,
/// which two epochs of Adam carry to ~1e-6 in the weights; the figures agree to
/// 1e-4 relative, as the ten-step loss sequences in gpu_training.rs do.
#[test]
fn the_recipe_on_the_gpu_matches_the_cpu() {
    if gpu().is_none() {
        return;
    }
    let dir = data("tf_gpu_cpu");
    let d = dir.to_str().unwrap();
    let mut models = Vec::new();
    for (name, device) in [
        ("cpu", &["--cpu"][..]),
        ("gpu", &["--backend", "vulkan"][..]),
    ] {
        let path = dir.join(format!("{name}.st"));
        let mut args = vec![
            "train", "--data", d, "-q", "--epochs", "2", "--hidden", "32,16",
        ];
        args.extend_from_slice(device);
        args.extend_from_slice(&[
            "--activation",
            "relu",
            "--optimizer",
            "adamw",
            "--lr",
            "0.003",
        ]);
        args.extend_from_slice(&[
            "--dropout",
            "0.2",
            "--lr-schedule",
            "cosine",
            "--val-split",
            "0.2",
        ]);
        args.extend_from_slice(&["--save", path.to_str().unwrap()]);
        ok(&args);
        models.push(Checkpoint::load(&path).unwrap());
    }
    let (c, g) = (&models[0], &models[1]);
    let worst = c
        .state
        .params
        .iter()
        .zip(&g.state.params)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-4, "weights differ by {worst}");
    for (a, b) in c.state.history.iter().zip(&g.state.history) {
        let (x, y) = (a.val_loss.unwrap(), b.val_loss.unwrap());
        assert!(
            (x - y).abs() <= 1e-4 * x.abs(),
            "epoch {}: val loss cpu {x}, gpu {y}",
            a.epoch
        );
    }
}

/// `--save --patience` reads the model back from the backend once per best epoch
/// and never on the others (the run and the command line share one read-back), on
/// both paths; `--save` alone reads it once per epoch (the last finite model is
/// what a diverging run keeps), and the end of the run reuses the last one.
#[test]
fn a_run_reads_the_model_back_once_per_epoch_that_needs_it() {
    let mut devices = vec![vec!["--cpu"]];
    if gpu().is_some() {
        devices.push(vec!["--backend", "vulkan"]);
    }
    let dir = data("tf_readbacks");
    let d = dir.to_str().unwrap();
    let save = dir.join("m.st");
    let s = save.to_str().unwrap();
    let recipe = ["train", "--data", d, "--hidden", "16", "--epochs", "6"];
    let readbacks = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpu-mlp"))
            .args(args)
            .env("RUST_LOG", "debug")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        let count = log
            .lines()
            .filter(|l| l.contains("reading the model back after epoch"))
            .count();
        (count, String::from_utf8_lossy(&out.stdout).into_owned())
    };
    for device in devices {
        let mut args = recipe.to_vec();
        args.extend_from_slice(&device);
        // The validation accuracy reaches 100 % within a few epochs and cannot
        // improve after that: the later epochs are not the best.
        args.extend_from_slice(&["--lr", "2", "--val-split", "0.3", "--patience", "6"]);
        args.extend_from_slice(&["--monitor", "val_accuracy"]);
        args.extend_from_slice(&["--save", s]);
        let (count, out) = readbacks(&args);
        let best = out.lines().filter(|l| l.ends_with('*')).count();
        assert!((1..6).contains(&best), "{out}");
        assert_eq!(
            count, best,
            "{device:?}: {count} read-backs for {best} best epochs\n{out}"
        );

        let mut args = recipe.to_vec();
        args.extend_from_slice(&device);
        args.extend_from_slice(&["--save", s]);
        let (count, out) = readbacks(&args);
        assert_eq!(
            count, 6,
            "{device:?}: one read-back per epoch with --save\n{out}"
        );
    }
}
