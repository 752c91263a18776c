//! `train`: one call that builds the data set from arrays, the `Trainer` from
//! the estimator's settings, and runs it with the GIL released under an observer
//! ([`Watch`]) that keeps scikit-learn's stopping rule (`tol`,
//! `n_iter_no_change`, `early_stopping`'s best model), its verbose lines and its
//! Ctrl-C.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::choice::Choice;
use gpu_mlp::report::{figure, Figure};
use gpu_mlp::task::ClassWeight;
use gpu_mlp::trainer::{RunInfo, RunObserver};
use gpu_mlp::{
    Activation, BackendChoice, Dataset, Device, EpochReport, Loss, Model, Normalize, Optimizer,
    OptimizerKind, Split, Task, Trainer,
};
use numpy::PyReadonlyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::net::Net;
use crate::{arrays, to_py};

/// The estimator's settings, as `gpu_mlp/_estimators.py` passes them (a dict,
/// validated and translated there into the library's terms).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub(crate) struct Settings {
    hidden: Vec<usize>,
    activation: String,
    optimizer: String,
    lr: f32,
    momentum: f32,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
    batch_size: usize,
    epochs: usize,
    shuffle: bool,
    seed: u64,
    dropout: f32,
    loss: Option<String>,
    normalize: Option<String>,
    device: String,
    huber_delta: f32,
    normalize_targets: bool,
    threshold: f32,
    pos_weight: Option<Vec<f32>>,
    class_weight: Option<String>,
    tol: f64,
    n_iter_no_change: usize,
    early_stopping: bool,
}

/// Where scikit-learn's stopping rule stood, carried between calls (warm starts).
#[derive(Clone, Copy, FromPyObject, IntoPyObject)]
#[pyo3(from_item_all)]
pub(crate) struct StopState {
    /// Epochs in a row that did not improve by more than `tol`.
    count: usize,
    /// The lowest training loss so far.
    best_loss: f64,
    /// The highest validation score so far.
    best_score: f64,
}

/// What `train` hands back: the model, each epoch's training loss and
/// validation score, where the stopping rule stands, whether it ended the run,
/// and the backend that ran it.
type Trained = (Net, Vec<f64>, Vec<f64>, StopState, bool, String);

/// Trains a network on `x`/`y` (and the validation split `x_val`/`y_val`, which
/// `early_stopping` watches), continuing `warm` where given, and calls
/// `on_epoch(epoch, loss, score)` after each epoch when given.
#[pyfunction]
#[pyo3(signature = (x, y, task, classes, settings, stop, sample_weight=None, x_val=None, y_val=None, class_names=None, warm=None, on_epoch=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn train(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    task: &str,
    classes: usize,
    settings: Settings,
    stop: StopState,
    sample_weight: Option<PyReadonlyArray1<'_, f32>>,
    x_val: Option<&Bound<'_, PyAny>>,
    y_val: Option<&Bound<'_, PyAny>>,
    class_names: Option<Vec<String>>,
    warm: Option<PyRef<'_, Net>>,
    on_epoch: Option<Py<PyAny>>,
) -> PyResult<Trained> {
    let task = Task::parse(task).map_err(to_py)?;
    let train = arrays::split(x, y, sample_weight)?;
    let val = match (x_val, y_val) {
        (Some(x), Some(y)) => Some(arrays::split(x, y, None)?),
        _ => None,
    };
    let data = dataset(train, val, task, classes, class_names)?;
    let trainer = trainer(&settings, task, warm.as_deref().map(Net::checkpoint))?;
    let mut watch = Watch::new(&settings, task, stop, on_epoch);
    let fitted = py.detach(|| trainer.fit_with(data, &mut watch));
    if let Some(e) = watch.error.take() {
        return Err(e);
    }
    let model = fitted.map_err(to_py)?;
    if model.interrupted() {
        // Only a Ctrl-C stops a step early, and it raised above.
        return Err(PyValueError::new_err("training stopped inside an epoch"));
    }
    let model = match watch.best.take() {
        Some(best) if settings.early_stopping => Model::from(best),
        _ => model,
    };
    Ok((
        Net::new(model),
        watch.losses,
        watch.scores,
        watch.state,
        watch.stopped,
        watch.backend,
    ))
}

/// The data set of one fit: the training split, a stand-in test split (the first
/// training example; `evaluate_test(false)` keeps it from ever being scored) and
/// the validation split where there is one.
fn dataset(
    train: Split,
    val: Option<Split>,
    task: Task,
    classes: usize,
    class_names: Option<Vec<String>>,
) -> PyResult<Arc<Dataset>> {
    let width = train.width;
    let stand_in = train.select(&[0]);
    let mut data = Dataset::from_memory("the training data", train, stand_in, (1, width), classes)
        .map_err(to_py)?;
    data.val = val;
    data.class_names = class_names;
    // `with_task` checks the whole data set, the validation split included.
    let data = data.with_task(task).map_err(to_py)?;
    Ok(Arc::new(data))
}

/// The library's trainer for these settings, continuing `warm` where given.
fn trainer(s: &Settings, task: Task, warm: Option<&Checkpoint>) -> PyResult<Trainer> {
    let kind = OptimizerKind::parse(&s.optimizer).map_err(to_py)?;
    let optimizer = Optimizer {
        beta1: s.beta_1,
        beta2: s.beta_2,
        eps: s.epsilon,
        weight_decay: s.weight_decay,
        ..Optimizer::new(kind, Some(s.lr), s.momentum)
    };
    let mut t = Trainer::new(&s.hidden)
        .activation(Activation::parse(&s.activation).map_err(to_py)?)
        .task(task)
        .optimizer(optimizer)
        .batch_size(s.batch_size)
        .epochs(s.epochs)
        .shuffle(s.shuffle)
        .seed(s.seed)
        .dropout(s.dropout)
        .device(device(&s.device)?)
        .huber_delta(s.huber_delta)
        .normalize_targets(s.normalize_targets)
        .threshold(s.threshold)
        .evaluate_test(false);
    if let Some(n) = &s.normalize {
        t = t.normalize(Normalize::parse(n).map_err(to_py)?);
    }
    if let Some(loss) = &s.loss {
        t = t.loss(Loss::read(loss, task).map_err(to_py)?);
    }
    if let Some(w) = &s.pos_weight {
        t = t.pos_weight(w.clone());
    }
    if let Some(w) = &s.class_weight {
        t = t.class_weight(ClassWeight::parse(w).map_err(to_py)?);
    }
    if let Some(c) = warm {
        t = t.resume(c.clone());
    }
    Ok(t)
}

/// `device`: "auto" (a hardware GPU, else the CPU), "cpu", "gpu" (any adapter,
/// software ones included), a wgpu backend ("vulkan", "metal", "dx12", "gl"), or
/// text in the adapter's name ("nvidia", "llvmpipe").
pub(crate) fn device(name: &str) -> PyResult<Device> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "auto" => Device::Auto,
        "cpu" => Device::Cpu,
        "gpu" => Device::Gpu(BackendChoice::Auto, None),
        "" => return Err(PyValueError::new_err("device \"\" names no device")),
        other => match BackendChoice::from_name(other) {
            Some(choice) => Device::Gpu(choice, None),
            None => Device::Gpu(BackendChoice::Auto, Some(name.trim().to_string())),
        },
    })
}

/// How often a run looks for a Ctrl-C: often enough to stop within a step's
/// time, seldom enough never to wait on another thread's GIL every batch.
const SIGNAL_EVERY: Duration = Duration::from_millis(20);

/// The run's observer: scikit-learn's stopping rule, its best model under
/// `early_stopping`, verbose lines through the caller's `on_epoch`, Ctrl-C.
struct Watch {
    early_stopping: bool,
    tol: f64,
    n_iter_no_change: usize,
    task: Task,
    state: StopState,
    losses: Vec<f64>,
    scores: Vec<f64>,
    best: Option<Checkpoint>,
    stopped: bool,
    on_epoch: Option<Py<PyAny>>,
    error: Option<PyErr>,
    checked: Instant,
    backend: String,
}

impl Watch {
    fn new(s: &Settings, task: Task, state: StopState, on_epoch: Option<Py<PyAny>>) -> Self {
        Watch {
            early_stopping: s.early_stopping,
            tol: s.tol,
            n_iter_no_change: s.n_iter_no_change,
            task,
            state,
            losses: Vec::new(),
            scores: Vec::new(),
            best: None,
            stopped: false,
            on_epoch,
            error: None,
            checked: Instant::now(),
            backend: String::new(),
        }
    }

    /// scikit-learn's validation score: accuracy (subset accuracy for
    /// multilabel), or R² averaged over the outputs.
    fn score(&self, r: &EpochReport) -> Option<f64> {
        match self.task {
            Task::Regress => figure(&r.val_figures, Figure::R2),
            _ => r.val_accuracy,
        }
    }

    /// scikit-learn's `_update_no_improvement_count`: an epoch counts as no
    /// improvement unless it beats the best by more than `tol`; the best moves on
    /// any improvement.
    fn count(&mut self, loss: f64, score: Option<f64>) -> bool {
        let s = &mut self.state;
        match score.filter(|_| self.early_stopping) {
            Some(score) => {
                s.count = if score < s.best_score + self.tol {
                    s.count + 1
                } else {
                    0
                };
                let best = score > s.best_score;
                s.best_score = s.best_score.max(score);
                best
            }
            None => {
                s.count = if loss > s.best_loss - self.tol {
                    s.count + 1
                } else {
                    0
                };
                s.best_loss = s.best_loss.min(loss);
                false
            }
        }
    }
}

impl RunObserver for Watch {
    fn started(&mut self, run: &RunInfo, _: &Dataset) -> gpu_mlp::Result<()> {
        self.backend = run.backend.clone();
        Ok(())
    }

    fn batch_done(&mut self, _: usize, _: usize, _: usize, _: Option<f64>) -> bool {
        if self.checked.elapsed() < SIGNAL_EVERY {
            return true;
        }
        self.checked = Instant::now();
        match Python::attach(|py| py.check_signals()) {
            Ok(()) => true,
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }

    fn wants_checkpoint(&self, r: &EpochReport) -> bool {
        self.early_stopping && self.score(r).is_some_and(|s| s > self.state.best_score)
    }

    fn epoch_done(&mut self, r: &EpochReport, c: Option<&Checkpoint>) -> gpu_mlp::Result<()> {
        let score = self.score(r);
        self.losses.push(r.train_loss);
        if let Some(s) = score.filter(|_| self.early_stopping) {
            self.scores.push(s);
        }
        if self.count(r.train_loss, score) {
            self.best = c.cloned();
        }
        if let Some(f) = &self.on_epoch {
            let called = Python::attach(|py| f.call1(py, (r.epoch, r.train_loss, score)).map(drop));
            if let Err(e) = called {
                self.error = Some(e);
            }
        }
        Ok(())
    }

    fn keep_training(&mut self, _: &EpochReport) -> bool {
        self.stopped = self.state.count > self.n_iter_no_change;
        !self.stopped && self.error.is_none()
    }
}
