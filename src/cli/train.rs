//! `gpu-mlp train`: the training run, with printing, metrics, checkpoints and plots.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{
    describe_run, fresh_setup, load_data, make_backend, validate, DataArgs, DeviceArgs, NetworkArgs,
};
use gpu_mlp::checkpoint::{class_names_for, Checkpoint};
use gpu_mlp::data::Dataset;
use gpu_mlp::files;
use gpu_mlp::metrics::MetricsWriter;
use gpu_mlp::model::Architecture;
use gpu_mlp::optimizer::Optimizer;
use gpu_mlp::rng::Rng;
use gpu_mlp::train::{self, Backend, TrainConfig, TrainSetup};
use gpu_mlp::Error;

#[derive(Args)]
pub(crate) struct TrainArgs {
    #[command(flatten)]
    pub(crate) device: DeviceArgs,
    #[command(flatten)]
    pub(crate) data: DataArgs,
    #[command(flatten)]
    pub(crate) net: NetworkArgs,
    /// Epochs to train (more epochs, with --resume).
    #[arg(long, default_value_t = 5)]
    pub(crate) epochs: usize,
    /// Write one JSON object per epoch to FILE (rewritten atomically each epoch).
    #[arg(long, value_name = "FILE")]
    pub(crate) metrics: Option<PathBuf>,
    /// Save the trained network, optimizer state and RNG position (safetensors).
    #[arg(long, value_name = "FILE")]
    pub(crate) save: Option<PathBuf>,
    /// Also save every N epochs during training (needs --save).
    #[arg(long, value_name = "N", requires = "save")]
    pub(crate) checkpoint_every: Option<usize>,
    /// Continue training a checkpoint: its network, optimizer state and RNG position
    /// (give the data flags again; --lr and --batch-size may change).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["hidden", "activation", "loss", "optimizer", "momentum", "seed", "classes"]
    )]
    pub(crate) resume: Option<PathBuf>,
    /// Draw train loss, test loss and test accuracy per epoch into a PNG.
    #[arg(long, value_name = "FILE")]
    pub(crate) plot: Option<PathBuf>,
    /// Print only the final result (no progress bar, no per-epoch lines).
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

pub(crate) fn run_train(args: TrainArgs) -> Result<(), Error> {
    let opt = validate(&args.net)?;
    if args.epochs == 0 {
        return Err(Error::Usage("--epochs must be at least 1".into()));
    }
    if args.checkpoint_every == Some(0) {
        return Err(Error::Usage("--checkpoint-every must be at least 1".into()));
    }
    let resumed = args.resume.as_deref().map(Checkpoint::load).transpose()?;
    // Fail on an unwritable output before training, not after.
    for path in [&args.save, &args.metrics, &args.plot]
        .into_iter()
        .flatten()
    {
        files::check_writable(path)?;
    }
    let classes = resumed
        .as_ref()
        .map_or(args.net.classes, |c| c.arch.classes());
    let dataset = Arc::new(load_data(&args.data, classes)?);
    let start = match &resumed {
        Some(c) => resume_from(c, &args.net, &dataset)?,
        None => {
            let (setup, rng) = fresh_setup(&args.net, opt, &args.device, &dataset)?;
            let names = class_names_for(&dataset.dir, setup.arch.classes());
            let info = CheckpointInfo::new(&setup, args.net.seed, &dataset, names);
            (setup, rng, info, 0)
        }
    };
    let (setup, mut rng, snapshot, start_epoch) = start;
    let cfg = TrainConfig {
        batch_size: setup.batch_size,
        epochs: args.epochs,
        start_epoch,
    };
    let header = describe_run(&dataset, &setup.arch, &setup.opt, cfg.batch_size, "");
    let mut backend = make_backend(&args.device, &dataset, setup)?;
    if let Some(c) = &resumed {
        backend.set_optimizer_state(&c.state)?;
    }
    let describe = backend.describe();
    if !args.quiet {
        println!("{header}{describe}");
        if let (Some(p), Some(c)) = (&args.resume, &resumed) {
            println!("resuming {} after {} epochs", p.display(), c.epochs_trained);
        }
    }
    let metrics = match &args.metrics {
        Some(p) => Some(MetricsWriter::create(p, &describe)?),
        None => None,
    };
    let mut observer = TrainObserver {
        quiet: args.quiet,
        batch_size: cfg.batch_size,
        total_epochs: start_epoch + args.epochs,
        progress: None,
        metrics,
        save: args.save.clone(),
        every: args.checkpoint_every,
        snapshot,
        history: Vec::new(),
        plot: args.plot.clone(),
    };
    let reports = train::train(
        backend.as_mut(),
        dataset.train.len(),
        &cfg,
        &mut rng,
        &mut observer,
    )?;
    if let (true, Some(last)) = (args.quiet, reports.last()) {
        println!(
            "epoch {} test_loss {:.4} test_acc {:.2}%",
            last.epoch,
            last.test_loss,
            100.0 * last.test_accuracy
        );
    }
    Ok(())
}

/// Where a resumed run starts: the checkpoint's network, parameters, optimizer (with
/// --lr and --batch-size when given), RNG position and epoch count.
fn resume_from(
    c: &Checkpoint,
    net: &NetworkArgs,
    dataset: &Dataset,
) -> Result<(TrainSetup, Rng, CheckpointInfo, usize), Error> {
    if (dataset.rows, dataset.cols) != (c.image_rows, c.image_cols) {
        return Err(Error::data(
            &dataset.dir,
            format!(
                "the network of --resume takes {}×{} images, the data has {}×{}",
                c.image_rows, c.image_cols, dataset.rows, dataset.cols
            ),
        ));
    }
    let setup = TrainSetup {
        arch: c.arch.clone(),
        opt: Optimizer {
            lr: net.lr.unwrap_or(c.opt.lr),
            ..c.opt
        },
        params: c.params.clone(),
        batch_size: net.batch_size.unwrap_or(c.batch_size),
    };
    let info = CheckpointInfo::new(&setup, c.seed, dataset, c.class_names.clone());
    Ok((setup, Rng::from_state(c.rng_state), info, c.epochs_trained))
}

/// What a checkpoint needs besides the backend's parameters and optimizer state.
struct CheckpointInfo {
    arch: Architecture,
    opt: Optimizer,
    seed: u64,
    batch_size: usize,
    rows: usize,
    cols: usize,
    class_names: Option<Vec<String>>,
}

impl CheckpointInfo {
    fn new(
        setup: &TrainSetup,
        seed: u64,
        dataset: &Dataset,
        class_names: Option<Vec<String>>,
    ) -> Self {
        CheckpointInfo {
            arch: setup.arch.clone(),
            opt: setup.opt,
            seed,
            batch_size: setup.batch_size,
            rows: dataset.rows,
            cols: dataset.cols,
            class_names,
        }
    }
}

/// Prints progress and epochs, writes metrics, checkpoints and the plot.
struct TrainObserver {
    quiet: bool,
    batch_size: usize,
    total_epochs: usize,
    progress: Option<indicatif::ProgressBar>,
    metrics: Option<MetricsWriter>,
    save: Option<PathBuf>,
    every: Option<usize>,
    snapshot: CheckpointInfo,
    history: Vec<train::EpochReport>,
    plot: Option<PathBuf>,
}

impl TrainObserver {
    fn save(
        &self,
        path: &std::path::Path,
        epoch: usize,
        backend: &mut dyn Backend,
        rng: &Rng,
    ) -> Result<(), Error> {
        let s = &self.snapshot;
        Checkpoint {
            arch: s.arch.clone(),
            opt: s.opt,
            params: backend.parameters()?,
            state: backend.optimizer_state()?,
            epochs_trained: epoch,
            seed: s.seed,
            rng_state: rng.state(),
            batch_size: s.batch_size,
            image_rows: s.rows,
            image_cols: s.cols,
            class_names: s.class_names.clone(),
        }
        .save(path)?;
        log::info!("saved {} after epoch {epoch}", path.display());
        Ok(())
    }
}

impl train::Observer for TrainObserver {
    fn batch_done(&mut self, epoch: usize, done: usize, total: usize, running_loss: Option<f64>) {
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = self.progress.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:25}] {pos}/{len} batches, eta {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar
        });
        let rate = (done * self.batch_size) as f64 / bar.elapsed().as_secs_f64().max(1e-6);
        let loss = match (running_loss, self.history.last()) {
            (Some(l), _) => format!(" loss {l:.4}"),
            (None, Some(r)) => format!(" (last epoch's loss {:.4})", r.train_loss),
            (None, None) => String::new(),
        };
        bar.set_message(format!(
            "epoch {epoch}/{}{loss} {rate:.0} samples/s",
            self.total_epochs
        ));
        bar.set_position(done as u64);
    }

    fn epoch_done(
        &mut self,
        r: &train::EpochReport,
        backend: &mut dyn Backend,
        rng: &Rng,
    ) -> Result<(), Error> {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        if !self.quiet {
            println!(
                "epoch {:>3}/{}  train_loss {:.4}  test_loss {:.4}  test_acc {:6.2}%  {:7.2} s  {:9.0} samples/s",
                r.epoch, self.total_epochs, r.train_loss, r.test_loss, 100.0 * r.test_accuracy, r.seconds, r.samples_per_second
            );
        }
        if let Some(m) = self.metrics.as_mut() {
            m.record(r)?;
        }
        self.history.push(r.clone());
        if let Some(p) = &self.plot {
            gpu_mlp::plot::draw_curves(p, &self.history)?;
        }
        if let Some(path) = self.save.clone() {
            let due = self.every.is_some_and(|n| r.epoch % n == 0);
            if due || r.epoch == self.total_epochs {
                self.save(&path, r.epoch, backend, rng)?;
            }
        }
        Ok(())
    }
}
