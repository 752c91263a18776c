//! Never lose a run: every hostile input, signal and failing output found so far,
//! kept as a regression test. Each one must end in a clear error or a saved model:
//! never a panic, a hang, an allocation the input did not pay for, or a trained
//! network lost or replaced by a worse one. Where a GPU path applies it is run too.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::{gpu, gzip_bytes, synthetic_dataset, temp_dir, write_idx_dir};
use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::data::idx::encode_idx_u8;

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gpu-mlp"));
    c.args(args).env_remove("GPU_MLP_DATA");
    c
}

fn run(args: &[&str]) -> Output {
    command(args).output().expect("run gpu-mlp")
}

/// Exit status `code` and `words` on stderr, and no panic.
fn assert_exit(out: &Output, code: i32, words: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(
        stderr.contains(words),
        "stderr {stderr:?} does not say {words:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn data(name: &str, n_train: usize) -> PathBuf {
    let dir = temp_dir(name);
    write_idx_dir(&dir, &synthetic_dataset(17, 10, 6, n_train, 200), true);
    dir
}

/// The device flags of each path this machine runs: the CPU, and the GPU where an
/// adapter exists (a missing one fails the GPU tests elsewhere, as it must).
fn paths() -> Vec<Vec<&'static str>> {
    let mut p = vec![vec!["--cpu"]];
    if gpu().is_some() {
        p.push(vec!["--backend", "vulkan"]);
    }
    p
}

fn train(device: &[&str], data: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--data", data.to_str().unwrap()];
    args.extend_from_slice(device);
    args.extend_from_slice(extra);
    run(&args)
}

/// Rewrites one metadata value of a saved checkpoint, keeping its tensors.
fn set_metadata(path: &Path, key: &str, value: &str) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["__metadata__"][key] = serde_json::Value::from(value);
    let text = serde_json::to_vec(&header).unwrap();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(path, out).unwrap();
}

/// A small trained checkpoint (Adam, so every optimizer field is present).
fn saved_model(name: &str) -> (PathBuf, PathBuf) {
    let dir = data(name, 300);
    let path = dir.join("m.st");
    let p = path.to_str().unwrap();
    let out = train(
        &["--cpu"],
        &dir,
        &[
            "--hidden",
            "8",
            "--optimizer",
            "adam",
            "--epochs",
            "1",
            "-q",
            "--save",
            p,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, path)
}

#[test]
fn checkpoint_metadata_out_of_range_is_refused_naming_the_field() {
    let (dir, path) = saved_model("rel_meta");
    let (d, p) = (dir.to_str().unwrap(), path.to_str().unwrap());
    let cases = [
        ("epochs_trained", "18446744073709551614", "epochs_trained"),
        (
            "rng_state",
            "0000000000000000,0000000000000000,0000000000000000,0000000000000000",
            "all zeros",
        ),
        ("eps", "0", "eps"),
        ("beta2", "1", "beta2"),
        ("beta1", "NaN", "beta1"),
        ("batch_size", "0", "batch_size"),
        ("layers", "60000,60000,2", "shape"),
        ("history", "[{\"epoch\":1}]", "history"),
    ];
    for (key, value, words) in cases {
        let bad = dir.join(format!("bad_{key}.st"));
        std::fs::copy(&path, &bad).unwrap();
        set_metadata(&bad, key, value);
        let b = bad.to_str().unwrap();
        assert_exit(
            &run(&["eval", "--cpu", "--data", d, "--model", b]),
            1,
            words,
        );
        let out = run(&["train", "--cpu", "--data", d, "--resume", b, "--save", p]);
        assert_exit(&out, 1, words);
    }
}

#[test]
fn adams_second_moment_cannot_be_negative() {
    let (dir, path) = saved_model("rel_negative_v");
    let mut c = Checkpoint::load(&path).unwrap();
    c.state.optimizer.v[0] = -1.0;
    let bad = dir.join("neg.st");
    c.save(&bad).unwrap();
    let out = run(&[
        "eval",
        "--cpu",
        "--data",
        dir.to_str().unwrap(),
        "--model",
        bad.to_str().unwrap(),
    ]);
    assert_exit(&out, 1, "negative");
}

#[test]
fn files_that_are_not_regular_files_are_refused_without_reading() {
    let (dir, _) = saved_model("rel_special_files");
    let d = dir.to_str().unwrap();
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for (model, words) in [
        ("/dev/zero", "a device"),
        ("/dev/urandom", "a device"),
        (fifo.to_str().unwrap(), "a FIFO"),
        (d, "a directory"),
    ] {
        assert_exit(
            &run(&["eval", "--cpu", "--data", d, "--model", model]),
            1,
            words,
        );
    }
}

#[test]
fn sizes_from_flags_are_checked_before_anything_is_allocated() {
    let dir = data("rel_sizes", 100);
    for device in paths() {
        let out = train(&device, &dir, &["--hidden", "4294967296,4294966501"]);
        assert_exit(&out, 2, "at most 4294967295 are supported");
    }
    assert_exit(
        &run(&["bench", "--cpu", "--synthetic", "4294967296"]),
        1,
        "memory",
    );
    assert_exit(
        &run(&["bench", "--cpu", "--matmul", "100000,100000,100000"]),
        2,
        "at most",
    );
    for threads in ["100000", "0", "abc", "-1"] {
        let out = command(&["train", "--cpu", "--data", dir.to_str().unwrap()])
            .env("GPU_MLP_THREADS", threads)
            .output()
            .unwrap();
        assert_exit(&out, 2, "GPU_MLP_THREADS");
    }
}

#[test]
fn idx_headers_are_compared_before_a_body_is_inflated() {
    let dir = temp_dir("rel_idx_claims");
    let ds = synthetic_dataset(2, 10, 4, 20, 10);
    write_idx_dir(&dir, &ds, true);
    // 5 million 28×28 images claimed (3.9 GB), 20 labels: refused from the headers.
    let claim = encode_idx_u8(&[5_000_000, 28, 28], &[]);
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), gzip_bytes(&claim)).unwrap();
    let out = run(&["train", "--cpu", "--data", dir.to_str().unwrap()]);
    assert_exit(&out, 1, "20 labels, but");
    // Junk after a complete gzip member is named as such.
    write_idx_dir(&dir, &ds, true);
    let labels = dir.join("t10k-labels-idx1-ubyte.gz");
    let mut bytes = std::fs::read(&labels).unwrap();
    bytes.extend_from_slice(b"junk");
    std::fs::write(&labels, bytes).unwrap();
    let out = run(&["train", "--cpu", "--data", dir.to_str().unwrap()]);
    assert_exit(&out, 1, "trailing data after the gzip stream");
}

#[test]
fn a_closed_or_full_stdout_never_costs_the_model() {
    let dir = data("rel_stdout", 300);
    for device in paths() {
        let save = dir.join("piped.st");
        let _ = std::fs::remove_file(&save);
        let mut args = vec!["train", "--data", dir.to_str().unwrap(), "--epochs", "2"];
        args.extend_from_slice(&device);
        args.extend_from_slice(&["--save", save.to_str().unwrap()]);
        // Like `| head -1` that has already exited: the read end is closed.
        let mut child = command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_exit(&out, 0, "");
        Checkpoint::load(&save).unwrap();
        let full = std::fs::File::create("/dev/full").unwrap();
        let out = command(&[
            "eval",
            "--cpu",
            "--data",
            dir.to_str().unwrap(),
            "--model",
            save.to_str().unwrap(),
        ])
        .stdout(full)
        .output()
        .unwrap();
        // eval's product is what it prints: lost, the command failed.
        assert_exit(&out, 1, "standard output: could not be written");
    }
    // So for every command that prints its product, into a full disk or a closed pipe.
    let model = dir.join("piped.st");
    let m = model.to_str().unwrap();
    let d = dir.to_str().unwrap();
    let printers: [&[&str]; 5] = [
        &["eval", "--cpu", "--json", "--model", m, "--data", d],
        &[
            "predict", "--model", m, "--index", "0", "--json", "--data", d,
        ],
        &["completions", "bash"],
        &["devices"],
        &["bench", "--cpu", "--data", d, "--epochs", "1"],
    ];
    for args in printers {
        let full = std::fs::File::create("/dev/full").unwrap();
        let out = command(args).stdout(full).output().unwrap();
        assert_exit(&out, 1, "standard output: could not be written");
        // A pipe whose read end is closed before the command starts (as `| head`
        // that has exited): every write fails, however fast the command is.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = command(args).stdout(writer).output().unwrap();
        assert_exit(&out, 1, "standard output");
    }
}

#[test]
fn a_diverged_model_is_never_saved_nor_replaces_a_good_one() {
    let dir = data("rel_diverge", 300);
    for device in paths() {
        let save = dir.join("nan.st");
        let _ = std::fs::remove_file(&save);
        let s = save.to_str().unwrap();
        let flags = [
            "--activation",
            "relu",
            "--lr",
            "1e30",
            "--batch-size",
            "300",
            "--save",
            s,
        ];
        let out = train(&device, &dir, &flags);
        assert_exit(&out, 1, "diverged");
        assert!(!save.exists(), "a diverged model was saved");
        // A good checkpoint, resumed with a diverging lr onto itself, stays as it was.
        let good = dir.join("good.st");
        let g = good.to_str().unwrap();
        let out = train(
            &device,
            &dir,
            &["--activation", "relu", "--epochs", "1", "-q", "--save", g],
        );
        assert_exit(&out, 0, "");
        let before = std::fs::read(&good).unwrap();
        let flags = [
            "--lr",
            "1e30",
            "--batch-size",
            "300",
            "--resume",
            g,
            "--save",
            g,
            "--checkpoint-every",
            "1",
        ];
        assert_exit(&train(&device, &dir, &flags), 1, "diverged");
        assert_eq!(
            std::fs::read(&good).unwrap(),
            before,
            "the good checkpoint changed"
        );
    }
}

/// Spawns a run with stdout piped and returns it once it has printed `epochs`
/// epoch lines (training is then under way, its signal handlers installed).
fn spawn_until(args: &[&str], epochs: usize) -> (Child, Vec<String>) {
    let mut child = command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|l: &&String| l.starts_with("epoch"))
        .count()
        < epochs
    {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push(line);
    }
    // Keep draining, so that the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    (child, seen)
}

/// Sends SIGINT (a Ctrl-C) to `child` and waits for it to end.
fn interrupt(child: Child) -> Output {
    let signal = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(signal.unwrap().success());
    child.wait_with_output().unwrap()
}

#[test]
fn a_failing_plot_warns_and_the_model_is_still_saved() {
    let dir = data("rel_plot_fails", 3000);
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).unwrap();
    let (save, plot) = (dir.join("kept.st"), plots.join("curves.png"));
    let args = [
        "train",
        "--cpu",
        "--data",
        dir.to_str().unwrap(),
        "--epochs",
        "4",
        "--save",
        save.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ];
    let (child, _) = spawn_until(&args, 1);
    // After the first epoch the plot's directory disappears (a full or lost disk).
    std::fs::remove_dir_all(&plots).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0, "warning: --plot");
    assert_eq!(Checkpoint::load(&save).unwrap().state.epochs_trained, 4);
}

#[test]
fn outputs_are_checked_before_training() {
    let dir = data("rel_outputs", 100);
    let d = dir.to_str().unwrap();
    let cases = [
        ("/dev/null", "a device"),
        ("out/newdir/", "names a directory"),
        (d, "is a directory"),
    ];
    for (save, words) in cases {
        assert_exit(
            &run(&["train", "--cpu", "--data", d, "--save", save]),
            2,
            words,
        );
    }
    // A 254-byte name works (temporary files do not lengthen it); 256 bytes cannot.
    let long = dir.join("n".repeat(254));
    assert_exit(
        &run(&[
            "train",
            "--cpu",
            "--data",
            d,
            "--epochs",
            "1",
            "-q",
            "--save",
            long.to_str().unwrap(),
        ]),
        0,
        "",
    );
    assert!(long.exists());
    let too_long = dir.join("n".repeat(256));
    assert_exit(
        &run(&[
            "train",
            "--cpu",
            "--data",
            d,
            "--save",
            too_long.to_str().unwrap(),
        ]),
        2,
        "longer than 255",
    );
    // A symlink is written through to its target and stays a symlink.
    let target = dir.join("target.st");
    let link = dir.join("link.st");
    std::fs::write(&target, b"old").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_exit(
        &run(&[
            "train",
            "--cpu",
            "--data",
            d,
            "--epochs",
            "1",
            "-q",
            "--save",
            link.to_str().unwrap(),
        ]),
        0,
        "",
    );
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    Checkpoint::load(&target).unwrap();
}

#[test]
fn a_second_writer_is_refused_and_killed_writers_leave_nothing_behind() {
    let dir = data("rel_writers", 100);
    let (d, target) = (dir.to_str().unwrap(), dir.join("shared.st"));
    let held = gpu_mlp::files::Output::prepare(&target, "--save").unwrap();
    let out = run(&[
        "train",
        "--cpu",
        "--data",
        d,
        "--save",
        target.to_str().unwrap(),
    ]);
    assert_exit(&out, 2, "another gpu-mlp run is writing it");
    drop(held);
    // What a writer killed mid-write left behind (another process's temporary file).
    let stale = gpu_mlp::files::temp_path(&target).with_extension("4000000.tmp");
    std::fs::write(&stale, vec![0u8; 1000]).unwrap();
    let out = run(&[
        "train",
        "--cpu",
        "--data",
        d,
        "--epochs",
        "1",
        "-q",
        "--save",
        target.to_str().unwrap(),
    ]);
    assert_exit(&out, 0, "");
    assert!(!stale.exists(), "{} was left behind", stale.display());
    let hidden: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".gpu-mlp-"))
        .collect();
    assert!(hidden.is_empty(), "left behind: {hidden:?}");
}

fn bits(c: &Checkpoint) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let b = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect();
    (
        b(&c.state.params),
        b(&c.state.optimizer.m),
        b(&c.state.optimizer.v),
    )
}

#[test]
fn an_interrupt_saves_and_resuming_gives_the_uninterrupted_bits() {
    for device in paths() {
        let n_train = if device[0] == "--cpu" { 20000 } else { 3000 };
        let dir = data(&format!("rel_interrupt{}", device.len()), n_train);
        let d = dir.to_str().unwrap();
        let (full, cut) = (dir.join("full.st"), dir.join("cut.st"));
        let common = ["--optimizer", "adam", "--hidden", "64", "--seed", "3"];
        let mut args = vec!["train", "--data", d, "--epochs", "12", "-q"];
        args.extend_from_slice(&device);
        args.extend_from_slice(&common);
        let mut whole = args.clone();
        whole.extend_from_slice(&["--save", full.to_str().unwrap()]);
        assert_exit(&run(&whole), 0, "");
        let mut interrupted = args.clone();
        interrupted.extend_from_slice(&["--save", cut.to_str().unwrap(), "--metrics"]);
        let metrics = dir.join("m.jsonl");
        interrupted.push(metrics.to_str().unwrap());
        interrupted.retain(|a| *a != "-q");
        let (child, _) = spawn_until(&interrupted, 1);
        let out = interrupt(child);
        assert_exit(&out, 130, "interrupted: saved");
        let saved = Checkpoint::load(&cut).unwrap();
        assert!(
            saved.state.epochs_trained < 12,
            "the run ended before the interrupt"
        );
        let remaining = (12 - saved.state.epochs_trained).to_string();
        let mut resume = vec!["train", "--data", d, "--epochs", &remaining, "-q"];
        resume.extend_from_slice(&device);
        let c = cut.to_str().unwrap();
        resume.extend_from_slice(&[
            "--resume",
            c,
            "--save",
            c,
            "--metrics",
            metrics.to_str().unwrap(),
        ]);
        assert_exit(&run(&resume), 0, "");
        let (a, b) = (
            Checkpoint::load(&full).unwrap(),
            Checkpoint::load(&cut).unwrap(),
        );
        assert_eq!(bits(&a), bits(&b), "{device:?}: resumed weights differ");
        assert_eq!(
            (a.state.epochs_trained, a.state.rng_state),
            (b.state.epochs_trained, b.state.rng_state)
        );
        // The resumed run's metrics and history hold every epoch, once.
        let lines = std::fs::read_to_string(&metrics).unwrap();
        assert_eq!(lines.lines().count(), 12, "{lines}");
        let epochs: Vec<usize> = b.state.history.iter().map(|r| r.epoch).collect();
        assert_eq!(epochs, (1..=12).collect::<Vec<_>>());
    }
}

/// Pixels and labels at random: the network can only learn them by heart, so the
/// validation loss soon rises and early stopping's best epoch is an early one.
fn noise_data(name: &str, n_train: usize) -> PathBuf {
    let dir = temp_dir(name);
    let mut ds = synthetic_dataset(12, 4, 28, n_train, 100);
    let mut rng = gpu_mlp::rng::Rng::new(9);
    let images = (0..n_train * 28 * 28)
        .map(|_| rng.below(256) as u8)
        .collect();
    let labels: Vec<u32> = (0..n_train).map(|_| rng.below(4) as u32).collect();
    ds.train = gpu_mlp::Split::new(images, labels, 28 * 28).unwrap();
    write_idx_dir(&dir, &ds, false);
    dir
}

/// An interrupt after early stopping's best epoch: --save holds that epoch's model
/// at once, --save-last the run as it stands with the best model inside, and the
/// run resumed from it ends with the uninterrupted run's best model, bit for bit,
/// though no epoch after the interrupt beats it.
#[test]
fn an_interrupted_early_stopping_run_keeps_its_best_epoch_through_resume() {
    for device in paths() {
        let n_train = if device[0] == "--cpu" { 40000 } else { 3000 };
        let dir = noise_data(&format!("rel_interrupt_best{}", device.len()), n_train);
        let d = dir.to_str().unwrap();
        let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
        let (full, best, last) = (path("full.st"), path("best.st"), path("last.st"));
        let mut args = vec!["train", "--data", d, "--epochs", "16", "--seed", "5"];
        args.extend_from_slice(&device);
        args.extend_from_slice(&["--optimizer", "adam", "--lr", "0.001"]);
        // Patience past the last epoch: the run always reaches it, so the interrupt
        // lands after the best epoch but before the end.
        args.extend_from_slice(&["--val-split", "0.2", "--patience", "100", "--hidden", "256"]);
        let mut whole = args.clone();
        whole.extend_from_slice(&["--save", &full, "-q"]);
        assert_exit(&run(&whole), 0, "");
        let want = Checkpoint::load(Path::new(&full)).unwrap();
        let best_epoch = want.state.epochs_trained;
        assert!(
            best_epoch < 12,
            "{device:?}: best epoch {best_epoch} is too late to test this"
        );

        let mut cut = args.clone();
        cut.extend_from_slice(&["--save", &best, "--save-last", &last]);
        let (child, _) = spawn_until(&cut, best_epoch + 1);
        let out = interrupt(child);
        assert_exit(
            &out,
            130,
            &format!("best.st holds epoch {best_epoch}'s model"),
        );
        assert_exit(
            &out,
            130,
            &format!("with the best epoch's ({best_epoch}) model inside"),
        );
        let kept = Checkpoint::load(Path::new(&best)).unwrap();
        assert_eq!(
            bits(&kept),
            bits(&want),
            "{device:?}: --save is not the best epoch"
        );
        let stopped = Checkpoint::load(Path::new(&last)).unwrap();
        assert!(
            stopped.state.epochs_trained < 16,
            "the run ended before the interrupt"
        );
        assert!(
            stopped.state.best_model.is_some(),
            "no best model inside --save-last"
        );

        let remaining = (16 - stopped.state.epochs_trained).to_string();
        let mut resume = vec!["train", "--data", d, "--epochs", &remaining, "-q"];
        resume.extend_from_slice(&device);
        resume.extend_from_slice(&["--resume", &last, "--save", &best]);
        assert_exit(&run(&resume), 0, "");
        let got = Checkpoint::load(Path::new(&best)).unwrap();
        assert_eq!(
            bits(&got),
            bits(&want),
            "{device:?}: resumed to another model"
        );
        assert_eq!(got.state.epochs_trained, best_epoch);
        assert_eq!(got.state.rng_state, want.state.rng_state);
        assert!(
            got.state.best_model.is_none(),
            "the best model is the model"
        );
    }
}

#[test]
fn momentum_with_sgd_means_sgd_with_momentum_and_with_adam_is_refused() {
    let dir = data("rel_momentum", 100);
    let save = dir.join("m.st");
    let s = save.to_str().unwrap();
    let out = train(
        &["--cpu"],
        &dir,
        &[
            "--optimizer",
            "sgd",
            "--momentum",
            "0.5",
            "--epochs",
            "1",
            "-q",
            "--save",
            s,
        ],
    );
    assert_exit(&out, 0, "");
    let c = Checkpoint::load(&save).unwrap();
    assert_eq!(
        (
            c.settings.opt.kind,
            c.settings.opt.momentum,
            c.settings.opt.lr
        ),
        (gpu_mlp::optimizer::OptimizerKind::Momentum, 0.5, 0.1)
    );
    assert_exit(
        &train(
            &["--cpu"],
            &dir,
            &["--optimizer", "adam", "--momentum", "0.5"],
        ),
        2,
        "does not apply to --optimizer adam",
    );
}

#[test]
fn class_names_from_a_checkpoint_print_escaped() {
    let (dir, path) = saved_model("rel_class_names");
    let mut c = Checkpoint::load(&path).unwrap();
    let mut names: Vec<String> = (0..10).map(|i| format!("class{i}")).collect();
    names.iter_mut().for_each(|n| n.push_str("\u{1b}[2J\u{7}"));
    c.settings.class_names = Some(names);
    c.save(&path).unwrap();
    let d = dir.to_str().unwrap();
    for args in [
        vec![
            "eval",
            "--cpu",
            "--data",
            d,
            "--model",
            path.to_str().unwrap(),
        ],
        vec![
            "predict",
            "--data",
            d,
            "--model",
            path.to_str().unwrap(),
            "--index",
            "0",
        ],
    ] {
        let out = run(&args);
        assert_exit(&out, 0, "");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains('\u{1b}') && !stdout.contains('\u{7}'),
            "{stdout:?}"
        );
        assert!(stdout.contains("\\u{1b}[2J"), "{stdout}");
    }
}

/// Round 3, item 1: a `predict --csv` label that is neither a class name nor a
/// class index of the model is an error naming the row, not a panic.
#[test]
fn predict_csv_with_an_unknown_label_names_the_row() {
    let dir = temp_dir("rel_predict_label");
    let (table, model) = (dir.join("t.csv"), dir.join("m.st"));
    common::write_table(&table, 60, ["x", "y", "z"]);
    common::train_table_model(&table, &model);
    let (t, m) = (table.to_str().unwrap(), model.to_str().unwrap());
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "a,b,label\n0.5,1,y\n1.5,2,9\n").unwrap();
    let out = run(&["predict", "--model", m, "--csv", bad.to_str().unwrap()]);
    assert_exit(
        &out,
        1,
        "row 3: label \"9\" is not one of the model's classes (x, y, z)",
    );
    // Item 23: `predict --index` on a table reads its rows as the test examples.
    let out = run(&["predict", "--model", m, "--index", "5", "--data", t]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("true:      2 z"));
}

/// Round 3, item 2: an `.npz` whose features are a 0-d (or 1-d) array is refused
/// naming the array, not a panic.
#[test]
fn an_npz_with_a_scalar_for_features_is_refused_naming_it() {
    let dir = temp_dir("rel_npz_scalar");
    let npz = dir.join("zero.npz");
    let x = common::npy("<f4", &[], &1.0f32.to_le_bytes());
    let x_test = common::npy("<f4", &[1, 2], &[0u8; 8]);
    let y = common::npy("|u1", &[1], &[0]);
    let entries = [
        ("x_train", x),
        ("y_train", y.clone()),
        ("x_test", x_test),
        ("y_test", y),
    ];
    common::write_npz(&npz, &entries, false);
    let out = run(&["train", "--cpu", "--data", npz.to_str().unwrap()]);
    assert_exit(&out, 1, "x_train has shape []");
}

/// Round 3, item 3: a class name with a line break (a quoted CSV label, or
/// `--class-names`) is refused before training, so no checkpoint that could not
/// be loaded again is ever written.
#[test]
fn a_class_name_with_a_line_break_is_refused_before_training() {
    let dir = temp_dir("rel_newline_name");
    let table = dir.join("t.csv");
    let rows: String = (0..30)
        .map(|i| format!("{}.5,{}\n", i % 3, ["\"x\ny\"", "z"][i % 2]))
        .collect();
    std::fs::write(&table, format!("a,label\n{rows}")).unwrap();
    let save = dir.join("m.st");
    let (t, s) = (table.to_str().unwrap(), save.to_str().unwrap());
    let out = run(&[
        "train",
        "--cpu",
        "--data",
        t,
        "--test-split",
        "0.2",
        "--save",
        s,
    ]);
    assert_exit(&out, 1, "holds a line break");
    assert!(!save.exists());
    let plain = dir.join("plain.csv");
    let rows: String = (0..30)
        .map(|i| format!("{}.5,{}\n", i % 3, ["a", "b"][i % 2]))
        .collect();
    std::fs::write(&plain, format!("a,label\n{rows}")).unwrap();
    let p = plain.to_str().unwrap();
    let args = [
        "train",
        "--cpu",
        "--data",
        p,
        "--test-split",
        "0.2",
        "--class-names",
        "x\ny,z",
    ];
    assert_exit(&run(&args), 2, "--class-names: class name \"x\\ny\"");
}

/// Round 3, item 4: no output may be one of the run's inputs (also through a
/// link): `--metrics`, `--plot`, `--save` naming the training table, the test
/// table or the resumed checkpoint, and `export --onnx` its own `--model`, are
/// refused before anything is written, and the inputs stay byte for byte.
/// Resuming in place (`--resume m --save m`) is still allowed.
#[test]
fn no_output_overwrites_an_input() {
    let dir = temp_dir("rel_outputs_inputs");
    let (table, test, model) = (dir.join("t.csv"), dir.join("test.csv"), dir.join("m.st"));
    common::write_table(&table, 60, ["0", "1", "2"]);
    std::fs::copy(&table, &test).unwrap();
    common::train_table_model(&table, &model);
    let link = dir.join("link.csv");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&table, &link).unwrap();
    let (t, te, m, l) = (
        table.to_str().unwrap(),
        test.to_str().unwrap(),
        model.to_str().unwrap(),
        link.to_str().unwrap(),
    );
    let before: Vec<Vec<u8>> = [&table, &test, &model]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let refused: [&[&str]; 5] = [
        &[
            "train",
            "--cpu",
            "--data",
            t,
            "--test-split",
            "0.2",
            "--metrics",
            t,
        ],
        &[
            "train",
            "--cpu",
            "--data",
            t,
            "--test-split",
            "0.2",
            "--plot",
            l,
        ],
        &[
            "train",
            "--cpu",
            "--data",
            t,
            "--test-data",
            te,
            "--save",
            te,
        ],
        &[
            "train", "--cpu", "--resume", m, "--save", "x.st", "--plot", m,
        ],
        &["export", "--model", m, "--onnx", m],
    ];
    for args in refused {
        assert_exit(&run(args), 2, "writing it would destroy it");
    }
    let after: Vec<Vec<u8>> = [&table, &test, &model]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(before == after, "an input changed");
    let out = run(&[
        "train", "--cpu", "-q", "--resume", m, "--epochs", "1", "--save", m,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Round 3, item 25: a side output that fails in a run without `--save` warns
/// that training goes on, without claiming a model is saved.
#[test]
fn a_failing_side_output_without_save_claims_no_saved_model() {
    let dir = data("rel_metrics_nosave", 3000);
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let plot = out_dir.join("curves.png");
    let d = dir.to_str().unwrap();
    let args = [
        "train",
        "--cpu",
        "--data",
        d,
        "--epochs",
        "4",
        "--plot",
        plot.to_str().unwrap(),
    ];
    let (child, _) = spawn_until(&args, 1);
    std::fs::remove_dir_all(&out_dir).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0, "warning: --plot");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("still saved"), "{stderr}");
}

/// Round 3, item 6: a checkpoint replaced in place keeps its mode (a private
/// model stays private), and an output made read-only is refused, not replaced.
#[test]
fn a_replaced_output_keeps_its_mode_and_a_read_only_one_is_kept() {
    use std::os::unix::fs::PermissionsExt;
    let dir = data("rel_modes", 300);
    let d = dir.to_str().unwrap();
    let model = dir.join("private.st");
    let m = model.to_str().unwrap();
    let out = run(&[
        "train", "--cpu", "-q", "--data", d, "--epochs", "1", "--save", m,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set = |mode: u32| {
        std::fs::set_permissions(&model, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let mode = || std::fs::metadata(&model).unwrap().permissions().mode() & 0o777;
    set(0o600);
    let out = run(&[
        "train", "--cpu", "-q", "--data", d, "--resume", m, "--epochs", "1", "--save", m,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(), 0o600);
    set(0o444);
    let before = std::fs::read(&model).unwrap();
    let out = run(&[
        "train", "--cpu", "-q", "--data", d, "--resume", m, "--epochs", "1", "--save", m,
    ]);
    assert_exit(&out, 2, "is read-only");
    let onnx = run(&["export", "--model", m, "--onnx", m]);
    assert_exit(&onnx, 2, "");
    assert_eq!(std::fs::read(&model).unwrap(), before);
    assert_eq!(mode(), 0o444);
}

/// Round 3, item 7: Ctrl-C while a large table is still being read ends the run
/// at once with exit 130: nothing trained, the existing `--save` file unchanged,
/// and no lock file left beside any output.
#[test]
fn an_interrupt_while_loading_leaves_no_lock_and_keeps_the_saved_model() {
    let dir = temp_dir("rel_interrupt_load");
    let (table, model) = (dir.join("big.csv"), dir.join("m.st"));
    common::write_table(&table, 90, ["x", "y", "z"]);
    common::train_table_model(&table, &model);
    // A table that takes about a second to read (3 million rows, 24 MB): the
    // interrupt arrives while it is read.
    common::write_table(&table, 3_000_000, ["x", "y", "z"]);
    let before = std::fs::read(&model).unwrap();
    let metrics = dir.join("metrics.jsonl");
    let (t, m) = (table.to_str().unwrap(), model.to_str().unwrap());
    let args = [
        "train",
        "--cpu",
        "--data",
        t,
        "--test-split",
        "0.2",
        "--save",
        m,
        "--metrics",
    ];
    let child = command(&args)
        .arg(&metrics)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    let out = interrupt(child);
    assert_exit(&out, 130, "while reading the data");
    assert_eq!(std::fs::read(&model).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Round 3, item 22: a table model given image data names the real mismatch
/// (the features it takes), not the labels that happen to fail first.
#[test]
fn a_table_model_on_images_names_the_features_it_takes() {
    let dir = temp_dir("rel_table_on_images");
    let (table, model) = (dir.join("t.csv"), dir.join("m.st"));
    common::write_table(&table, 60, ["x", "y", "z"]);
    common::train_table_model(&table, &model);
    let images = data("rel_table_on_images_idx", 200);
    let (m, d) = (model.to_str().unwrap(), images.to_str().unwrap());
    let more = dir.join("more.st");
    let runs: [&[&str]; 3] = [
        &["eval", "--cpu", "--model", m, "--data", d],
        &["predict", "--model", m, "--index", "0", "--data", d],
        &[
            "train",
            "--cpu",
            "--resume",
            m,
            "--data",
            d,
            "--save",
            more.to_str().unwrap(),
        ],
    ];
    for args in runs {
        assert_exit(&run(args), 1, "the model takes 2 f32 features");
    }
}

/// Round 3, item 21: finite values near ±3e38 that the input shift would carry
/// past f32's range are named before training, not reported as a divergence;
/// the standard transform, whose shift keeps them in range, trains.
#[test]
fn values_the_input_shift_would_overflow_are_named() {
    let dir = temp_dir("rel_huge_values");
    let table = dir.join("huge.csv");
    let rows: String = (0..40)
        .map(|i| format!("{i},{}e38,{}\n", [3, -3, 1, -2][i % 4], i % 2))
        .collect();
    std::fs::write(&table, format!("x,big,label\n{rows}")).unwrap();
    let t = table.to_str().unwrap();
    for device in paths() {
        let mut args = vec![
            "train",
            "--data",
            t,
            "--test-split",
            "0.25",
            "--epochs",
            "1",
        ];
        args.extend_from_slice(&device);
        let unit = [&args[..], &["--normalize", "unit"]].concat();
        assert_exit(&run(&unit), 1, "feature \"big\" spans -3e38 to 3e38");
        assert_exit(&run(&args), 0, "");
    }
}

/// A network too large for the GPU's buffers is refused by the device's limit
/// before its parameters are drawn on the host: under a 1 GiB address-space limit
/// a 3.8 GB network ends in the limit's message, not an allocation failure, with
/// advice that shrinks the parameters (not --train-limit nor --batch-size).
#[test]
fn a_network_too_large_for_the_gpu_is_refused_before_host_memory_is_spent() {
    if gpu().is_none() {
        return; // skipped only with GPU_MLP_SKIP_GPU_TESTS=1, which gpu() prints
    }
    let dir = data("rel_gpu_params", 200);
    let cmd = format!(
        "ulimit -v 1048576; exec {} train --backend vulkan --data {} --hidden 20000000 --epochs 1",
        env!("CARGO_BIN_EXE_gpu-mlp"),
        dir.display()
    );
    let out = Command::new("bash").args(["-c", &cmd]).output().unwrap();
    assert_exit(
        &out,
        1,
        "the buffer of 940000010 parameters takes 3760000040 bytes",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let error = stderr.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(
        error.ends_with("use a smaller network, or --cpu"),
        "{error}"
    );
}

/// Data is refused by the memory its reading takes, not by its file's size: a
/// narrow table takes ~17× its bytes (a string per label, a line number, its
/// numbers twice), CIFAR's five batch files all at once. `GPU_MLP_HOST_MEMORY`
/// caps what a run may take, as a smaller machine would.
#[test]
fn data_is_refused_by_the_memory_it_takes_not_by_its_file_size() {
    let dir = temp_dir("rel_memory");
    let csv = dir.join("narrow.csv");
    std::fs::write(&csv, format!("x,label\n{}", "1,0\n2,1\n".repeat(500_000))).unwrap();
    let train = |data: &Path, limit: &str| {
        let d = data.to_str().unwrap();
        let mut args = vec!["train", "--cpu", "--data", d, "--epochs", "1"];
        if data.extension().is_some() {
            args.extend(["--test-split", "0.2"]);
        }
        command(&args)
            .env("GPU_MLP_HOST_MEMORY", limit)
            .output()
            .unwrap()
    };
    // A 4 MB file of a million rows needs about 68 MB.
    let out = train(&csv, "32M");
    assert_exit(
        &out,
        1,
        "narrow.csv (about 998052 rows) needs about 68.5 MiB of memory",
    );
    assert_exit(&out, 1, "but only 32.0 MiB are available");
    assert_exit(&train(&csv, "256M"), 0, "");

    let cifar = dir.join("cifar");
    std::fs::create_dir_all(&cifar).unwrap();
    let records: Vec<u8> = (0..200)
        .flat_map(|i| [vec![i as u8 % 10], vec![7; 3072]].concat())
        .collect();
    for b in 1..=5 {
        std::fs::write(cifar.join(format!("data_batch_{b}.bin")), &records).unwrap();
    }
    std::fs::write(cifar.join("test_batch.bin"), &records).unwrap();
    // Each file is 0.6 MB; the six are 1200 images: 4.3 MB with the largest file.
    let out = train(&cifar, "2M");
    assert_exit(&out, 1, "cifar (1200 images) needs about 4.1 MiB of memory");
    let out = command(&["eval", "--model", "x.st"])
        .env("GPU_MLP_HOST_MEMORY", "lots")
        .output();
    assert_exit(
        &out.unwrap(),
        2,
        "$GPU_MLP_HOST_MEMORY=\"lots\": expected a byte count",
    );
}

/// A PNG whose header claims `w`×`h` gray pixels over `rows` rows of real data
/// (zlib-compressed zeros: a few kilobytes can claim gigabytes).
fn png_claiming(path: &Path, (w, h): (u32, u32), rows: usize) {
    use std::io::Write;
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        c.extend_from_slice(&crc.sum().to_be_bytes());
        c
    };
    let mut header = w.to_be_bytes().to_vec();
    header.extend_from_slice(&h.to_be_bytes());
    header.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..rows {
        z.write_all(&vec![0u8; w as usize + 1]).unwrap();
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &header));
    png.extend(chunk(b"IDAT", &z.finish().unwrap()));
    png.extend(chunk(b"IEND", &[]));
    std::fs::write(path, png).unwrap();
}

/// `predict` resizes images of another size, but what it reads is bounded before
/// anything is allocated: a small file claiming 30000×30000 pixels (or holding a
/// 5000×5000 image of zeros, 30 KB compressed) is refused naming its size.
#[test]
fn a_png_claiming_a_huge_image_is_refused_before_it_is_decoded() {
    let (dir, model) = saved_model("rel_png_bomb");
    for (name, size, rows) in [
        ("claims.png", (30000, 30000), 10),
        ("bomb.png", (5000, 5000), 5000),
    ] {
        let png = dir.join(name);
        png_claiming(&png, size, rows);
        assert!(std::fs::metadata(&png).unwrap().len() < 100_000);
        let out = run(&[
            "predict",
            "--model",
            model.to_str().unwrap(),
            png.to_str().unwrap(),
        ]);
        let (w, h) = size;
        assert_exit(
            &out,
            1,
            &format!("image is {w}×{h}; at most 16777216 pixels are read"),
        );
    }
}
