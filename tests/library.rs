//! The Rust API (`Trainer`, `Model`, in-memory data sets) against the command line:
//! the same settings train the same bits, a model saved from Rust is a checkpoint
//! the CLI reads, and bad in-memory data is refused.

mod common;

use common::{ok, synthetic_dataset, temp_dir, write_idx_dir};
use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::gpu::context::BackendChoice;
use gpu_mlp::{
    data, Activation, Dataset, Device, Model, Optimizer, OptimizerKind, Split, SplitKind, Trainer,
};

const CLI_FLAGS: [&str; 12] = [
    "--hidden",
    "16",
    "--activation",
    "relu",
    "--optimizer",
    "adam",
    "--lr",
    "0.01",
    "--epochs",
    "2",
    "--batch-size",
    "50",
];

fn trainer(device: Device) -> Trainer {
    Trainer::new(&[16])
        .activation(Activation::Relu)
        .optimizer(Optimizer::new(OptimizerKind::Adam, Some(0.01), 0.0))
        .epochs(2)
        .batch_size(50)
        .device(device)
}

/// Trains with the CLI on `dir` and returns its checkpoint.
fn cli_checkpoint(dir: &std::path::Path, device: &[&str], name: &str) -> Checkpoint {
    let save = dir.join(name);
    let mut args = vec!["train", "--quiet", "--data", dir.to_str().unwrap()];
    args.extend_from_slice(device);
    args.extend_from_slice(&CLI_FLAGS);
    args.extend_from_slice(&["--save", save.to_str().unwrap()]);
    ok(&args);
    Checkpoint::load(&save).unwrap()
}

fn small_dir(name: &str) -> std::path::PathBuf {
    let dir = temp_dir(name);
    write_idx_dir(&dir, &synthetic_dataset(5, 10, 6, 300, 100), false);
    dir
}

#[test]
fn trainer_on_the_cpu_trains_the_same_bits_as_the_cli() {
    let dir = small_dir("library_cpu");
    let model = trainer(Device::Cpu)
        .fit(data::load_dir(&dir, 10).unwrap())
        .unwrap();
    let cli = cli_checkpoint(&dir, &["--cpu"], "cli.safetensors");
    assert!(
        model.checkpoint().state.params == cli.state.params,
        "parameters differ"
    );
    assert!(
        model.checkpoint().state.optimizer == cli.state.optimizer,
        "optimizer state differs"
    );
    assert_eq!(model.history().len(), 2);

    // A model saved from Rust loads back equal, and the CLI evaluates it to the
    // accuracy its history records.
    let saved = dir.join("lib.safetensors");
    model.save(&saved).unwrap();
    let loaded = Model::load(&saved).unwrap();
    let (a, b) = (loaded.checkpoint(), model.checkpoint());
    assert!(
        a.state.params == b.state.params
            && a.state.optimizer == b.state.optimizer
            && a.settings.arch == b.settings.arch
    );
    // Saved histories keep what was learned, not how long it took.
    let accuracies = |m: &Model| {
        m.history()
            .iter()
            .map(|r| r.test_accuracy)
            .collect::<Vec<_>>()
    };
    assert_eq!(accuracies(&loaded), accuracies(&model));
    let out = ok(&[
        "eval",
        "--cpu",
        "--json",
        "--data",
        dir.to_str().unwrap(),
        "--model",
        saved.to_str().unwrap(),
    ]);
    let e: serde_json::Value = serde_json::from_str(&out).unwrap();
    let last = model.history().last().unwrap();
    assert_eq!(e["accuracy"].as_f64(), last.test_accuracy);

    // predict / probabilities agree with evaluate, example by example.
    let data = data::load_dir(&dir, 10).unwrap();
    let probs = model
        .probabilities(data.test.features.as_u8().unwrap())
        .unwrap();
    assert_eq!(probs.len(), data.test.len());
    for (i, p) in probs.iter().enumerate() {
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(
            model.predict(data.test.image(i).unwrap()).unwrap(),
            gpu_mlp::backend::argmax(p)
        );
    }
    let correct = probs
        .iter()
        .zip(data.test.labels())
        .filter(|(p, &y)| gpu_mlp::backend::argmax(p) == y as usize)
        .count();
    let report = model.evaluate(data, SplitKind::Test, &Device::Cpu).unwrap();
    assert_eq!(report.accuracy, Some(correct as f64 / 100.0));
    assert_eq!(report.accuracy, last.test_accuracy);
}

#[test]
fn trainer_on_a_gpu_trains_the_same_bits_as_the_cli() {
    if common::gpu().is_none() {
        return;
    }
    let dir = small_dir("library_gpu");
    let model = trainer(Device::Gpu(BackendChoice::Vulkan, None))
        .fit(data::load_dir(&dir, 10).unwrap())
        .unwrap();
    let cli = cli_checkpoint(&dir, &["--backend", "vulkan"], "cli.safetensors");
    assert!(
        model.checkpoint().state.params == cli.state.params,
        "parameters differ"
    );
    assert_eq!(model.history().len(), 2);
}

#[test]
fn in_memory_data_trains_and_bad_data_is_refused() {
    let ds = synthetic_dataset(9, 3, 4, 120, 30);
    let data = Dataset::from_memory("mine", ds.train.clone(), ds.test.clone(), (4, 4), 3).unwrap();
    let model = trainer(Device::Cpu).epochs(10).fit(data).unwrap();
    let accuracy = model.history().last().unwrap().test_accuracy.unwrap();
    assert!(accuracy > 0.9, "{accuracy}");

    // Counts that disagree, labels outside the classes, sizes that disagree.
    let err = Split::new(vec![0; 15], vec![0u32], 16).unwrap_err();
    assert!(
        err.to_string().contains("not 1 examples of 16 features"),
        "{err}"
    );
    let err =
        Dataset::from_memory("mine", ds.train.clone(), ds.test.clone(), (4, 4), 2).unwrap_err();
    assert!(
        err.to_string().contains("outside the class range 0..2"),
        "{err}"
    );
    let err = Dataset::from_memory("mine", ds.train, ds.test, (4, 5), 3).unwrap_err();
    assert!(err.to_string().contains("have 16 features"), "{err}");

    // A wrong image size for predict, a data set of the wrong shape for evaluate.
    let err = model.predict(&[0; 15]).unwrap_err();
    assert!(err.to_string().contains("the network takes 16"), "{err}");
    let other = synthetic_dataset(9, 3, 5, 20, 20);
    let other = Dataset::from_memory("other", other.train, other.test, (5, 5), 3).unwrap();
    assert!(model
        .evaluate(other, SplitKind::Test, &Device::Cpu)
        .is_err());
}

#[test]
fn library_errors_name_the_setting_as_the_api_does() {
    let data = synthetic_dataset(3, 2, 2, 20, 10);
    let cases: [(Trainer, &str); 4] = [
        (
            trainer(Device::Cpu).batch_size(0),
            "batch_size 0 must be at least 1",
        ),
        (
            trainer(Device::Cpu).epochs(0),
            "epochs 0 must be at least 1",
        ),
        (
            trainer(Device::Cpu).dropout(1.5),
            "dropout 1.5 must be in [0, 1)",
        ),
        (
            trainer(Device::Cpu).optimizer(Optimizer::new(OptimizerKind::Sgd, Some(-1.0), 0.0)),
            "lr -1 must be a finite number greater than 0",
        ),
    ];
    for (t, words) in cases {
        let err = t.fit(data.clone()).unwrap_err();
        assert!(matches!(err, gpu_mlp::Error::Setting { .. }), "{err:?}");
        assert_eq!(err.to_string(), words);
        assert_eq!(err.exit_code(), 2);
    }
}

#[test]
fn a_resumed_trainer_continues_to_the_same_bits_and_early_stopping_keeps_the_best() {
    let ds = synthetic_dataset(12, 4, 5, 300, 60);
    let data =
        || Dataset::from_memory("mine", ds.train.clone(), ds.test.clone(), (5, 5), 4).unwrap();
    let base = || trainer(Device::Cpu).val_split(0.2);
    let whole = base().epochs(4).fit(data()).unwrap();
    let half = base().epochs(2).fit(data()).unwrap();
    let rest = trainer(Device::Cpu)
        .epochs(2)
        .resume(half.checkpoint().clone())
        .fit(data())
        .unwrap();
    let (a, b) = (whole.checkpoint(), rest.checkpoint());
    assert_eq!(
        (&a.state.params, &a.state.optimizer, a.state.rng_state),
        (&b.state.params, &b.state.optimizer, b.state.rng_state)
    );
    assert_eq!(a.state.history.len(), 4);
    let figures = |h: &[gpu_mlp::report::EpochReport]| {
        h.iter()
            .map(|r| (r.epoch, r.train_loss, r.val_loss, r.test_loss, r.lr))
            .collect::<Vec<_>>()
    };
    assert_eq!(figures(&a.state.history), figures(&b.state.history));
    // Validation held out the same examples; the test figures are of the model returned.
    assert_eq!(a.settings.val_split, Some(0.2));
    let test = rest.test().unwrap();
    assert_eq!(test.epoch, rest.checkpoint().state.epochs_trained);
    // With early stopping the model returned is the best epoch's by validation loss.
    let stopped = base()
        .epochs(12)
        .optimizer(Optimizer::new(OptimizerKind::Adam, Some(0.05), 0.0))
        .early_stopping(2, gpu_mlp::report::Monitor::ValLoss)
        .fit(data())
        .unwrap();
    let c = stopped.checkpoint();
    let best = c
        .state
        .history
        .iter()
        .min_by(|x, y| x.val_loss.partial_cmp(&y.val_loss).unwrap())
        .unwrap();
    assert_eq!(c.state.epochs_trained, best.epoch);
    assert_eq!(stopped.test().unwrap().epoch, best.epoch);
    // Early stopping without a validation split is refused, naming the setting.
    let err = trainer(Device::Cpu)
        .early_stopping(2, gpu_mlp::report::Monitor::ValLoss)
        .fit(data())
        .unwrap_err();
    assert!(err.to_string().contains("patience"), "{err}");
}

/// Stops the run inside `epoch`, after `batches` of its batches (an interrupt).
struct InterruptAt {
    epoch: usize,
    batches: usize,
}

impl gpu_mlp::trainer::RunObserver for InterruptAt {
    fn batch_done(&mut self, epoch: usize, done: usize, _: usize, _: Option<f64>) -> bool {
        !(epoch == self.epoch && done >= self.batches)
    }
}

/// An early-stopping run interrupted after its best epoch carries that epoch's
/// model in its checkpoint (through the file format), and resumed it ends with
/// the same model, figures and bits as the run never interrupted, though no epoch
/// after the interrupt is the best.
#[test]
fn an_interrupted_early_stopping_run_resumes_to_its_best_epoch() {
    // Labels at random: validation loss soon rises as the network learns the noise.
    let ds = synthetic_dataset(12, 4, 5, 300, 60);
    let noise: Vec<u32> = (0..300u32).map(|i| (i * 7919 + i / 3) % 4).collect();
    let train = Split::new(ds.train.features.as_u8().unwrap().to_vec(), noise, 25).unwrap();
    let data = || Dataset::from_memory("noise", train.clone(), ds.test.clone(), (5, 5), 4).unwrap();
    let base = || {
        trainer(Device::Cpu)
            .val_split(0.2)
            .optimizer(Optimizer::new(OptimizerKind::Adam, Some(0.3), 0.0))
            .early_stopping(3, gpu_mlp::report::Monitor::ValLoss)
    };
    let whole = base().epochs(12).fit(data()).unwrap();
    let best = whole.checkpoint().state.epochs_trained;
    assert!(
        whole.stopped_early().is_some(),
        "the best epoch ({best}) must come before the run's end to test this"
    );
    let cut = base()
        .epochs(12)
        .fit_with(
            data(),
            &mut InterruptAt {
                epoch: best + 1,
                batches: 2,
            },
        )
        .unwrap();
    assert!(cut.interrupted());
    let bytes = cut.checkpoint().to_bytes("cut.st").unwrap();
    let cut = Checkpoint::from_bytes(&bytes, std::path::Path::new("cut.st")).unwrap();
    assert_eq!(cut.state.best.epoch, best);
    assert!(
        cut.state.best_model.is_some(),
        "no best epoch's model inside"
    );
    let rest = base()
        .epochs(12 - cut.state.epochs_trained)
        .resume(cut)
        .fit(data())
        .unwrap();
    let (a, b) = (whole.checkpoint(), rest.checkpoint());
    assert_eq!(b.state.epochs_trained, best);
    assert_eq!(
        (&a.state.params, &a.state.optimizer, a.state.rng_state),
        (&b.state.params, &b.state.optimizer, b.state.rng_state)
    );
    let figures = |h: &[gpu_mlp::report::EpochReport]| {
        h.iter()
            .map(|r| (r.epoch, r.train_loss, r.val_loss, r.lr))
            .collect::<Vec<_>>()
    };
    assert_eq!(figures(&a.state.history), figures(&b.state.history));
    assert_eq!(a.state.best, b.state.best);
    assert!(b.state.best_model.is_none());
    assert_eq!(whole.test().unwrap().loss, rest.test().unwrap().loss);
    assert_eq!(whole.stopped_early(), rest.stopped_early());
}

/// A closure is an observer: it hears every epoch's figures. `Monitor` and
/// `EpochReport` are at the crate root, and early stopping watches the validation
/// loss unless told otherwise.
#[test]
fn a_closure_hears_every_epoch_and_monitor_defaults_to_the_validation_loss() {
    let dir = small_dir("library_closure");
    let mut seen: Vec<(usize, f64)> = Vec::new();
    let model = trainer(Device::Cpu)
        .epochs(3)
        .fit_with(
            data::load_dir(&dir, 10).unwrap(),
            &mut |r: &gpu_mlp::EpochReport| seen.push((r.epoch, r.train_loss)),
        )
        .unwrap();
    let history: Vec<(usize, f64)> = model
        .history()
        .iter()
        .map(|r| (r.epoch, r.train_loss))
        .collect();
    assert_eq!(seen, history);
    assert_eq!(gpu_mlp::Monitor::default(), gpu_mlp::Monitor::ValLoss);
}

/// Stops after `after` epochs, as a caller's own stopping rule would.
struct StopAfter {
    after: usize,
}

impl gpu_mlp::trainer::RunObserver for StopAfter {
    fn keep_training(&mut self, r: &gpu_mlp::EpochReport) -> bool {
        r.epoch < self.after
    }
}

#[test]
fn an_observer_ends_a_run_after_an_epoch_and_the_test_split_can_be_left_alone() {
    let dir = small_dir("library_keep_training");
    let data = std::sync::Arc::new(data::load_dir(&dir, 10).unwrap());
    // Stopped after epoch 2 of 5: a finished run, the same bits as 2 epochs.
    let stopped = trainer(Device::Cpu)
        .epochs(5)
        .fit_with(data.clone(), &mut StopAfter { after: 2 })
        .unwrap();
    let two = trainer(Device::Cpu).epochs(2).fit(data.clone()).unwrap();
    assert!(!stopped.interrupted());
    assert_eq!(stopped.history().len(), 2);
    let (a, b) = (&stopped.checkpoint().state, &two.checkpoint().state);
    assert_eq!(a.params, b.params);
    assert_eq!(a.optimizer, b.optimizer);
    assert_eq!(
        (a.epochs_trained, a.rng_state),
        (b.epochs_trained, b.rng_state)
    );
    // Without the test split: no test figures, the same training.
    let untested = trainer(Device::Cpu)
        .epochs(2)
        .evaluate_test(false)
        .fit(data.clone())
        .unwrap();
    assert!(untested.test().is_none() && two.test().is_some());
    assert!(untested.history().iter().all(|r| r.test_loss.is_none()));
    assert_eq!(
        untested.checkpoint().state.params,
        two.checkpoint().state.params
    );
    // Unshuffled: the examples in their order, deterministic, and not the
    // shuffled run of the same seed.
    let plain = |seed| {
        trainer(Device::Cpu)
            .epochs(1)
            .shuffle(false)
            .seed(seed)
            .fit(data.clone())
            .unwrap()
    };
    assert_eq!(
        plain(1).checkpoint().state.params,
        plain(1).checkpoint().state.params
    );
    let shuffled = trainer(Device::Cpu)
        .epochs(1)
        .seed(1)
        .fit(data.clone())
        .unwrap();
    assert_ne!(
        plain(1).checkpoint().state.params,
        shuffled.checkpoint().state.params
    );
}
