//! What `train` does as the loop runs: progress and epoch lines, the metrics file,
//! the plot and the checkpoints, with the rule that only the checkpoint is worth
//! stopping for, and only a finite model is ever written.

use std::io::IsTerminal;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::describe_run;
use super::out::figures_text;
use super::outputs::Outputs;
use super::signals::interrupted;
use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::choice::Choice;
use gpu_mlp::data::Dataset;
use gpu_mlp::files::Output;
use gpu_mlp::metrics::MetricsWriter;
use gpu_mlp::report::EpochReport;
use gpu_mlp::trainer::{RunInfo, RunObserver};
use gpu_mlp::Error;

/// Prints progress and epochs, writes metrics, checkpoints and the plot.
pub(crate) struct TrainObserver {
    quiet: bool,
    progress: Option<indicatif::ProgressBar>,
    outputs: Outputs,
    metrics: Option<MetricsWriter>,
    every: Option<usize>,
    /// The run, from `started`: what every checkpoint records, the loop's settings.
    run: Option<RunInfo>,
    /// Said after the header: where a resumed run continues.
    resuming: Option<String>,
    history: Vec<EpochReport>,
    interrupt: Arc<AtomicBool>,
    /// The latest finite model and, with early stopping, the best one (kept where a
    /// file or the final test evaluation needs them), each with whether it is on disk.
    last: Snapshot,
    best: Snapshot,
}

/// A model kept in memory until it is written.
#[derive(Default)]
struct Snapshot {
    model: Option<Checkpoint>,
    written: bool,
}

impl Snapshot {
    fn replace(&mut self, model: Checkpoint) {
        *self = Snapshot {
            model: Some(model),
            written: false,
        };
    }

    /// Writes the model to `out` unless it is there already.
    fn write(&mut self, out: Option<&Output>) -> Result<(), Error> {
        let (Some(out), Some(c)) = (out, &self.model) else {
            return Ok(());
        };
        if !self.written {
            c.save(&out.path)?;
            self.written = true;
            log::info!(
                "saved {} after epoch {}",
                out.path.display(),
                c.state.epochs_trained
            );
        }
        Ok(())
    }
}

impl TrainObserver {
    /// `every`: --checkpoint-every.
    pub(crate) fn new(
        quiet: bool,
        every: Option<usize>,
        outputs: Outputs,
        history: Vec<EpochReport>,
        resuming: Option<String>,
        interrupt: Arc<AtomicBool>,
    ) -> Self {
        TrainObserver {
            quiet,
            progress: None,
            outputs,
            metrics: None,
            every,
            run: None,
            resuming,
            history,
            interrupt,
            last: Snapshot::default(),
            best: Snapshot::default(),
        }
    }

    fn early_stopping(&self) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| r.settings.early_stopping.is_some())
    }

    fn total_epochs(&self) -> usize {
        self.run
            .as_ref()
            .map_or(0, |r| r.config.start_epoch + r.config.epochs)
    }

    /// The last epoch's report (the whole run's, not only the saved model's).
    pub(crate) fn last_report(&self) -> Option<&EpochReport> {
        self.history.last()
    }

    /// What --save keeps: the best epoch's model with early stopping, else the last.
    fn saved(&mut self) -> &mut Snapshot {
        match self.early_stopping() {
            true => &mut self.best,
            false => &mut self.last,
        }
    }

    /// Writes --save and --save-last where they are not on disk yet.
    fn write_models(&mut self) -> Result<(), Error> {
        let (save, save_last) = (self.outputs.save.take(), self.outputs.save_last.take());
        let written = self
            .saved()
            .write(save.as_ref())
            .and_then(|()| self.last.write(save_last.as_ref()));
        (self.outputs.save, self.outputs.save_last) = (save, save_last);
        written
    }

    /// After the last epoch: the final checkpoints must be on disk. `model` is the
    /// run's result, what --save holds where no epoch of this run was kept for it
    /// (a resumed early-stopping run whose best epoch came before it).
    pub(crate) fn finish(&mut self, model: &Checkpoint) -> Result<(), Error> {
        if self.saved().model.is_none() {
            self.saved().replace(model.clone());
        }
        self.write_models()
    }

    /// A diverged run: --save keeps the last finite (or best) epoch's model.
    pub(crate) fn save_before_divergence(&mut self, diverged: Error) -> Error {
        let epoch = self.saved().model.as_ref().map(|c| c.state.epochs_trained);
        match (self.write_models(), &self.outputs.save, epoch) {
            (Ok(()), Some(out), Some(epoch)) => tell!(
                "{} holds the model after epoch {epoch}, from before the losses turned non-finite",
                out.path.display()
            ),
            (Err(e), _, _) => tell!("error: {e}"),
            _ => {}
        }
        diverged
    }

    /// Where --save-last takes an interrupted run: --save gets what it holds at the
    /// end of a run (the best or the last complete epoch's model). Said in the
    /// interrupt's message.
    fn write_saved_beside_last(&mut self) -> String {
        if self.outputs.save_last.is_none() {
            return String::new();
        }
        let Some(save) = self.outputs.save.take() else {
            return String::new();
        };
        let written = self.saved().write(Some(&save));
        let said = match (written, &self.saved().model) {
            (Err(e), _) => format!("; writing --save failed: {e}"),
            (Ok(()), Some(c)) => format!(
                "; {} holds epoch {}'s model",
                save.path.display(),
                c.state.epochs_trained
            ),
            (Ok(()), None) => String::new(),
        };
        self.outputs.save = Some(save);
        said
    }

    /// SIGINT/SIGTERM: the model after the last step goes to --save-last (else
    /// --save), with the unfinished epoch's progress, so that resuming gives the
    /// same bits; with early stopping it carries the best epoch's model, which a
    /// resumed run ends with unless it finds a better one. Where --save-last takes
    /// the run, --save gets what it holds at the end of a run (the best epoch's or
    /// the last complete epoch's model).
    pub(crate) fn save_interrupted(&mut self, model: &Checkpoint) -> Error {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        let steps = model.state.progress.map_or(0, |p| p.steps);
        let at = format!(
            "after {} epochs and {steps} steps",
            model.state.epochs_trained
        );
        let kept = self.write_saved_beside_last();
        let Some(out) = self
            .outputs
            .save_last
            .as_ref()
            .or(self.outputs.save.as_ref())
        else {
            return Error::Interrupted(format!("stopped {at}; nothing saved (no --save)"));
        };
        let best = match model.state.best_model {
            Some(_) => format!(
                ", with the best epoch's ({}) model inside, which a resumed run ends with unless it beats it",
                model.state.best.epoch
            ),
            None => String::new(),
        };
        let save = self.outputs.save.as_ref().unwrap_or(out);
        match model.save(&out.path) {
            Ok(()) => Error::Interrupted(format!(
                "saved {} {at}{best}{kept}; --resume {0} --save {} continues exactly there",
                out.path.display(),
                save.path.display()
            )),
            Err(e) => Error::Interrupted(format!("stopped {at}, but saving failed: {e}{kept}")),
        }
    }

    fn draw_progress(&mut self, epoch: usize, done: usize, total: usize, loss: Option<f64>) {
        let (epochs, batch) = (
            self.total_epochs(),
            self.run.as_ref().map_or(0, |r| r.config.batch_size),
        );
        let bar = self.progress.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{msg} [{bar:20}] {pos}/{len} eta {eta}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        // A rate over the first instants of an epoch means nothing: wait for half a second.
        let elapsed = bar.elapsed().as_secs_f64();
        let rate = match elapsed > 0.5 {
            true => format!(" {:.0}/s", (done * batch) as f64 / elapsed),
            false => String::new(),
        };
        let loss = match (loss, self.history.last()) {
            (Some(l), _) => format!(" loss {l:.4}"),
            (None, Some(r)) => format!(" (last {:.4})", r.train_loss),
            (None, None) => String::new(),
        };
        bar.set_message(format!("epoch {epoch}/{epochs}{loss}{rate}"));
        bar.set_position(done as u64);
    }

    /// Metrics and plot: side outputs, whose failure is a warning.
    fn write_side_outputs(&mut self, r: &EpochReport) {
        if let Some(m) = self.metrics.as_mut() {
            if let Err(e) = m.record(r) {
                warn_side_output("--metrics", &e, self.outputs.save.is_some());
            }
        }
        if let Some(out) = &self.outputs.plot {
            let title = self.plot_title();
            if let Err(e) = gpu_mlp::plot::draw_curves(&out.path, &self.history, &title) {
                warn_side_output("--plot", &e, self.outputs.save.is_some());
            }
        }
    }
}

impl TrainObserver {
    /// The plot's title: the network and how it learns.
    fn plot_title(&self) -> String {
        let Some(run) = &self.run else {
            return String::new();
        };
        let (arch, opt) = (&run.settings.arch, &run.settings.opt);
        let mut title = format!(
            "{} {}, {} lr {}, batch {}",
            arch.shape_string(),
            arch.activation.name(),
            opt.kind.name(),
            opt.lr,
            run.config.batch_size
        );
        if arch.dropout > 0.0 {
            title += &format!(", dropout {}", arch.dropout);
        }
        if run.settings.schedule.kind != gpu_mlp::schedule::ScheduleKind::Constant {
            title += &format!(", {} schedule", run.settings.schedule.kind.name());
        }
        title
    }

    /// One epoch's line: training, validation and test figures where evaluated, a
    /// star on the best epoch by the early-stopping monitor.
    fn epoch_line(&self, r: &EpochReport) -> String {
        let total = self.total_epochs();
        let width = total.to_string().len();
        let mut line = format!(
            "epoch {:>width$}/{}  train {}",
            r.epoch,
            total,
            figures_text(r.train_loss, r.train_accuracy, &Vec::new())
        );
        let figures = [
            ("val", r.val_loss, r.val_accuracy, &r.val_figures),
            ("test", r.test_loss, r.test_accuracy, &r.test_figures),
        ];
        for (name, loss, accuracy, figures) in figures {
            if let Some(l) = loss {
                line += &format!("  {name} {}", figures_text(l, accuracy, figures));
            }
        }
        if let Some(s) = r.seconds {
            line += &format!("  {s:6.2} s");
        }
        if r.best && self.early_stopping() {
            line += " *";
        }
        line
    }
}

/// A side output failed: say so, and that training goes on (and, where --save is
/// given, that the model is still saved).
fn warn_side_output(flag: &str, e: &Error, saving: bool) {
    match saving {
        true => tell!("warning: {flag}: {e}; training goes on, and the model is still saved"),
        false => tell!("warning: {flag}: {e}; training goes on"),
    }
}

impl RunObserver for TrainObserver {
    /// Prints the run's header, and starts the metrics file with a resumed run's
    /// earlier epochs (if it cannot be written now it is a side output like the
    /// plot: warn and train on).
    fn started(&mut self, run: &RunInfo, data: &Dataset) -> Result<(), Error> {
        // An interrupt while the backend was set up: no step taken, nothing to save.
        if interrupted(&self.interrupt) {
            return Err(Error::Interrupted(
                "stopped before the first step: nothing was trained or written".into(),
            ));
        }
        let (arch, opt) = (&run.settings.arch, &run.settings.opt);
        if !self.quiet {
            say!(
                "{}{}",
                describe_run(data, arch, opt, run.config.batch_size, ""),
                run.backend
            );
            if let Some(words) = &self.resuming {
                say!("{words}");
            }
        }
        let saving = self.outputs.save.is_some();
        self.metrics = self.outputs.metrics.as_ref().and_then(|out| {
            MetricsWriter::create(&out.path, &run.backend, &self.history)
                .map_err(|e| warn_side_output("--metrics", &e, saving))
                .ok()
        });
        self.run = Some(run.clone());
        Ok(())
    }

    fn batch_done(&mut self, epoch: usize, done: usize, total: usize, loss: Option<f64>) -> bool {
        if !self.quiet && std::io::stderr().is_terminal() {
            self.draw_progress(epoch, done, total, loss);
        }
        !interrupted(&self.interrupt)
    }

    /// --save-last wants every epoch's model; --save the last one, or with
    /// --patience the best one (the run reads it back for itself then anyway).
    fn wants_checkpoint(&self, r: &EpochReport) -> bool {
        let best_only = self.early_stopping();
        self.outputs.save_last.is_some() || (self.outputs.save.is_some() && (r.best || !best_only))
    }

    /// The epoch's line, side outputs and checkpoints.
    fn epoch_done(&mut self, r: &EpochReport, model: Option<&Checkpoint>) -> Result<(), Error> {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        if !self.quiet {
            say!("{}", self.epoch_line(r));
        }
        self.history.push(r.clone());
        self.write_side_outputs(r);
        let Some(model) = model else { return Ok(()) };
        if r.best && self.early_stopping() {
            self.best.replace(model.clone());
        }
        if self.outputs.save_last.is_some() || !self.early_stopping() {
            self.last.replace(model.clone());
        }
        let due = self.every.is_some_and(|n| r.epoch.is_multiple_of(n));
        if due && r.epoch < self.total_epochs() {
            // An intermediate checkpoint that fails is retried at the end.
            if let Err(e) = self.write_models() {
                warn_side_output("--checkpoint-every", &e, true);
            }
        }
        Ok(())
    }
}
