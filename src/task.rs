//! What a network is trained to do: the task (what the targets are), its loss, and
//! the output head's settings ([`Head`]), chosen once and carried by the data, the
//! network, the checkpoint, the figures, eval, predict and export.
//!
//! Three kernels serve four tasks (shaders/loss.wgsl, cpu/loss.rs):
//!
//! ```text
//! task        targets                 outputs   head                       losses
//! classify    a class index           classes   softmax                    cross-entropy, softmax-mse
//! binary      a class index, 0 or 1   1         sigmoid                    bce (from the logit)
//! multilabel  C values, each 0 or 1   C         sigmoid, per label         bce (from the logits)
//! regress     C values                C         identity                   mse, mae, huber
//! ```

use crate::choice::Choice;
use crate::error::{Error, Result};

/// What the targets are and what the network's output means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Task {
    /// One class of many (softmax): the default, and what images are.
    #[default]
    Classify,
    /// Yes or no (one logit through a sigmoid).
    Binary,
    /// Any number of C labels at once (C independent sigmoids).
    Multilabel,
    /// C real values (no output activation).
    Regress,
}

impl Choice for Task {
    const ALL: &'static [Self] = &[
        Task::Classify,
        Task::Binary,
        Task::Multilabel,
        Task::Regress,
    ];
    const WHAT: &'static str = "task";

    fn name(self) -> &'static str {
        match self {
            Task::Classify => "classify",
            Task::Binary => "binary",
            Task::Multilabel => "multilabel",
            Task::Regress => "regress",
        }
    }

    fn aliases(self) -> &'static [&'static str] {
        match self {
            Task::Classify => &["classification"],
            Task::Binary => &[],
            Task::Multilabel => &["multi-label"],
            Task::Regress => &["regression"],
        }
    }
}

/// Which output kernel a task runs (one WGSL entry point and its CPU twin each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadKernel {
    /// Softmax over the outputs, the target a class index.
    Softmax,
    /// A sigmoid per output, each target 0 or 1.
    Sigmoid,
    /// The outputs as they are, the targets real values.
    Identity,
}

impl Task {
    /// The kernel of its head.
    pub fn kernel(self) -> HeadKernel {
        match self {
            Task::Classify => HeadKernel::Softmax,
            Task::Binary | Task::Multilabel => HeadKernel::Sigmoid,
            Task::Regress => HeadKernel::Identity,
        }
    }

    /// The loss unless one is chosen.
    pub fn default_loss(self) -> Loss {
        match self {
            Task::Classify => Loss::CrossEntropy,
            Task::Binary | Task::Multilabel => Loss::Bce,
            Task::Regress => Loss::Mse,
        }
    }

    /// The losses it can train with.
    pub fn losses(self) -> &'static [Loss] {
        match self {
            Task::Classify => &[Loss::CrossEntropy, Loss::SoftmaxMse],
            Task::Binary | Task::Multilabel => &[Loss::Bce],
            Task::Regress => &[Loss::Mse, Loss::Mae, Loss::Huber],
        }
    }

    /// The network's output width for targets of `classes` classes (classify,
    /// binary), labels (multilabel) or values (regress): a binary head is one logit.
    pub fn outputs(self, classes: usize) -> usize {
        match self {
            Task::Binary => 1,
            _ => classes,
        }
    }

    /// Whether the targets are class indices (classify, binary) rather than values.
    pub fn has_classes(self) -> bool {
        matches!(self, Task::Classify | Task::Binary)
    }

    /// Whether an example is either right or wrong (an accuracy): every task but
    /// regression.
    pub fn has_accuracy(self) -> bool {
        self != Task::Regress
    }

    /// The fewest target widths (`classes` as `outputs` reads it) the task takes.
    fn min_classes(self) -> usize {
        match self {
            Task::Classify | Task::Binary => 2,
            Task::Multilabel | Task::Regress => 1,
        }
    }
}

/// The loss of a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Softmax + cross-entropy, mean over the batch (classify).
    CrossEntropy,
    /// ½‖softmax − onehot‖², mean over the batch (classify; written `mse` by
    /// checkpoints from before tasks, and read so).
    SoftmaxMse,
    /// Binary cross-entropy from the logits, mean over the outputs and the batch
    /// (binary, multilabel), PyTorch's `BCEWithLogitsLoss` with `pos_weight`.
    Bce,
    /// ½(ŷ − y)², mean over the outputs and the batch (regress): scikit-learn's
    /// squared loss, the tutorial's.
    Mse,
    /// |ŷ − y|, mean over the outputs and the batch (regress): PyTorch's `L1Loss`.
    Mae,
    /// ½d² where |d| < δ, else δ(|d| − ½δ), d = ŷ − y, mean over the outputs and
    /// the batch (regress): PyTorch's `HuberLoss`.
    Huber,
}

impl Choice for Loss {
    const ALL: &'static [Self] = &[
        Loss::CrossEntropy,
        Loss::SoftmaxMse,
        Loss::Bce,
        Loss::Mse,
        Loss::Mae,
        Loss::Huber,
    ];
    const WHAT: &'static str = "loss";

    fn name(self) -> &'static str {
        match self {
            Loss::CrossEntropy => "cross-entropy",
            Loss::SoftmaxMse => "softmax-mse",
            Loss::Bce => "bce",
            Loss::Mse => "mse",
            Loss::Mae => "mae",
            Loss::Huber => "huber",
        }
    }

    fn aliases(self) -> &'static [&'static str] {
        match self {
            Loss::CrossEntropy => &["xent", "ce"],
            Loss::Bce => &["binary-cross-entropy"],
            Loss::Mae => &["l1"],
            _ => &[],
        }
    }
}

impl Loss {
    /// The code shaders/loss.wgsl uses for this loss within its kernel.
    pub fn code(self) -> u32 {
        match self {
            Loss::CrossEntropy | Loss::Bce | Loss::Mse => 0,
            Loss::SoftmaxMse | Loss::Mae => 1,
            Loss::Huber => 2,
        }
    }

    /// The loss a checkpoint's name means for `task`: before tasks, `mse` named the
    /// squared error of the softmax, and a classifier's `mse` still means that.
    pub fn read(name: &str, task: Task) -> Result<Loss> {
        match (task, name) {
            (Task::Classify, "mse") => Ok(Loss::SoftmaxMse),
            _ => Loss::parse(name),
        }
    }
}

/// Weights per class for an imbalanced classifier (classify, binary): each
/// training example's loss counts its class's weight (times its own weight, where
/// it has one), as scikit-learn's `class_weight` and Keras's.
#[derive(Clone, Debug, PartialEq)]
pub enum ClassWeight {
    /// n / (classes · count of the class) over the training split: every class
    /// weighs the same in total (scikit-learn's `"balanced"`).
    Balanced,
    /// One weight per class, in class order.
    Given(Vec<f32>),
}

impl ClassWeight {
    /// `balanced`, or weights separated by commas.
    pub fn parse(text: &str) -> Result<ClassWeight> {
        if text == "balanced" {
            return Ok(ClassWeight::Balanced);
        }
        let weights: std::result::Result<Vec<f32>, _> =
            text.split(',').map(|w| w.trim().parse::<f32>()).collect();
        match weights {
            Ok(w) if w.iter().all(|v| v.is_finite() && *v >= 0.0) && w.iter().any(|&v| v > 0.0) => {
                Ok(ClassWeight::Given(w))
            }
            _ => Err(Error::setting(
                "class_weight",
                format!("{text:?}: give `balanced` or one weight per class (finite, not negative, not all 0), comma-separated"),
            )),
        }
    }

    /// As `parse` reads it.
    pub fn to_text(&self) -> String {
        match self {
            ClassWeight::Balanced => "balanced".into(),
            ClassWeight::Given(w) => w
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// Each class's weight for training labels `labels` of `classes` classes
    /// (a class without examples weighs 0 under `Balanced`: it adds nothing).
    pub fn per_class(&self, labels: &[u32], classes: usize) -> Result<Vec<f32>> {
        match self {
            ClassWeight::Given(w) if w.len() != classes => Err(Error::setting(
                "class_weight",
                format!(
                    "{} weights for {classes} classes; give one per class",
                    w.len()
                ),
            )),
            ClassWeight::Given(w) => Ok(w.clone()),
            ClassWeight::Balanced => {
                let mut count = vec![0usize; classes];
                for &l in labels {
                    count[l as usize] += 1;
                }
                let n = labels.len() as f64;
                Ok(count
                    .iter()
                    .map(|&c| match c {
                        0 => 0.0,
                        c => (n / (classes as f64 * c as f64)) as f32,
                    })
                    .collect())
            }
        }
    }
}

/// The output head: the task, its loss and the loss's settings, and how the
/// network's outputs map to the targets' units. Part of the network's description
/// (`network::Architecture::head`), so both paths, the checkpoint and the exports
/// read one value.
#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    /// The task.
    pub task: Task,
    /// Its loss.
    pub loss: Loss,
    /// Huber's δ (PyTorch's default 1), in standardized target units.
    pub huber_delta: f32,
    /// Binary and multilabel: the weight of each output's positive examples
    /// (PyTorch's `pos_weight`); empty: all 1.
    pub pos_weight: Vec<f32>,
    /// Binary and multilabel: an output is predicted positive when its probability
    /// is above this (default 0.5).
    pub threshold: f32,
    /// Regress: the network predicts (y − shift) / scale per output; a prediction
    /// in the target's own units is output · scale + shift. Empty: no scaling.
    pub target_shift: Vec<f32>,
    /// Regress: see `target_shift`.
    pub target_scale: Vec<f32>,
}

impl Default for Head {
    fn default() -> Self {
        Head::new(Task::Classify, Loss::CrossEntropy)
    }
}

/// Huber's δ unless one is chosen (PyTorch's).
pub const DEFAULT_HUBER_DELTA: f32 = 1.0;

/// The decision threshold unless one is chosen.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

impl Head {
    /// A head of `task` with `loss` and the default settings.
    pub fn new(task: Task, loss: Loss) -> Head {
        Head {
            task,
            loss,
            huber_delta: DEFAULT_HUBER_DELTA,
            pos_weight: Vec::new(),
            threshold: DEFAULT_THRESHOLD,
            target_shift: Vec::new(),
            target_scale: Vec::new(),
        }
    }

    /// The head that a loss alone implies: a classifier for the softmax losses, a
    /// binary one for `bce`, a regression for the rest.
    pub fn for_loss(loss: Loss) -> Head {
        let task = match loss {
            Loss::CrossEntropy | Loss::SoftmaxMse => Task::Classify,
            Loss::Bce => Task::Binary,
            Loss::Mse | Loss::Mae | Loss::Huber => Task::Regress,
        };
        Head::new(task, loss)
    }

    /// Checks the head for a network of `outputs` outputs: a loss of its task,
    /// settings in range, per-output settings one per output.
    pub fn check(&self, outputs: usize) -> Result<()> {
        let task = self.task;
        if !task.losses().contains(&self.loss) {
            return Err(Error::setting(
                "loss",
                format!(
                    "{} is not a loss of the {} task; it takes {}",
                    self.loss.name(),
                    task.name(),
                    task.losses()
                        .iter()
                        .map(|l| l.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let classes = match task {
            Task::Binary if outputs == 1 => 2,
            Task::Binary => {
                return Err(Error::Usage(format!(
                    "a binary network has one output, not {outputs}"
                )))
            }
            _ => outputs,
        };
        if classes < task.min_classes() {
            return Err(Error::Usage(format!(
                "a {} network needs at least {} outputs, not {outputs}",
                task.name(),
                task.min_classes()
            )));
        }
        if !(self.huber_delta.is_finite() && self.huber_delta > 0.0) {
            return Err(Error::setting(
                "huber_delta",
                format!("{} must be a positive number", self.huber_delta),
            ));
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(Error::setting(
                "threshold",
                format!("{} must be above 0 and below 1", self.threshold),
            ));
        }
        check_per_output("pos_weight", &self.pos_weight, outputs, |w| w > 0.0)?;
        check_per_output("target_shift", &self.target_shift, outputs, |_| true)?;
        check_per_output("target_scale", &self.target_scale, outputs, |s| s > 0.0)?;
        if self.target_shift.len() != self.target_scale.len() {
            return Err(Error::setting(
                "target_scale",
                "a target shift and scale come together, one per output",
            ));
        }
        if !self.pos_weight.is_empty() && task.kernel() != HeadKernel::Sigmoid {
            return Err(Error::setting(
                "pos_weight",
                format!(
                    "weighs positives of binary and multilabel tasks, not {}",
                    task.name()
                ),
            ));
        }
        Ok(())
    }

    /// The weight of output `j`'s positives.
    pub fn pos_weight_of(&self, j: usize) -> f32 {
        self.pos_weight.get(j).copied().unwrap_or(1.0)
    }

    /// The logit above which an output is positive: ln(t / (1 − t)), computed in
    /// f64 once so that both paths compare against the same f32.
    pub fn threshold_logit(&self) -> f32 {
        let t = self.threshold as f64;
        (t / (1.0 - t)).ln() as f32
    }

    /// Output `j` in the target's own units (regress): output · scale + shift.
    pub fn to_target_units(&self, j: usize, output: f32) -> f32 {
        match (self.target_scale.get(j), self.target_shift.get(j)) {
            (Some(&s), Some(&t)) => output * s + t,
            _ => output,
        }
    }

    /// What one example's outputs `z` mean: class probabilities (classify: the
    /// softmax; binary: [1 − p, p], p = σ(z)), each label's probability
    /// (multilabel), or the predicted values in the target's units (regress).
    pub fn answer(&self, z: &[f32]) -> Vec<f32> {
        match self.task {
            Task::Classify => softmax(z),
            Task::Binary => {
                let p = sigmoid(z[0]);
                vec![1.0 - p, p]
            }
            Task::Multilabel => z.iter().map(|&v| sigmoid(v)).collect(),
            Task::Regress => (0..z.len())
                .map(|j| self.to_target_units(j, z[j]))
                .collect(),
        }
    }

    /// The class a classifier predicts from one example's outputs: the first
    /// maximum (classify), or 1 when the logit is above the threshold's (binary).
    pub fn predicted_class(&self, z: &[f32]) -> u32 {
        match self.task {
            Task::Binary => (z[0] > self.threshold_logit()) as u32,
            _ => argmax(z) as u32,
        }
    }

    /// A target in the units the network learns (regress): (y − shift) / scale.
    pub fn from_target_units(&self, j: usize, y: f32) -> f32 {
        match (self.target_scale.get(j), self.target_shift.get(j)) {
            (Some(&s), Some(&t)) => (y - t) / s,
            _ => y,
        }
    }
}

/// Index of the first maximum: the prediction rule both paths (and the GPU kernel)
/// share, so ties resolve the same way everywhere.
pub fn argmax<T: PartialOrd + Copy>(row: &[T]) -> usize {
    row.iter()
        .enumerate()
        .fold(
            (0, row[0]),
            |best, (i, &v)| if v > best.1 { (i, v) } else { best },
        )
        .0
}

/// softmax(z), computed stably (z − max).
pub fn softmax(z: &[f32]) -> Vec<f32> {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = z.iter().map(|&v| (v - max).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

/// σ(x) = 1 / (1 + e^−x).
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn check_per_output(
    what: &'static str,
    values: &[f32],
    outputs: usize,
    ok: impl Fn(f32) -> bool,
) -> Result<()> {
    if !values.is_empty() && values.len() != outputs {
        return Err(Error::setting(
            what,
            format!(
                "{} values for {outputs} outputs; give one per output",
                values.len()
            ),
        ));
    }
    if let Some(bad) = values.iter().find(|&&v| !(v.is_finite() && ok(v))) {
        return Err(Error::setting(
            what,
            format!(
                "{bad} is out of range (each must be finite{})",
                match what {
                    "target_shift" => "",
                    _ => " and above 0",
                }
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_checkpoints_mse_is_the_softmax_squared_error() {
        assert_eq!(Loss::read("mse", Task::Classify).unwrap(), Loss::SoftmaxMse);
        assert_eq!(Loss::read("mse", Task::Regress).unwrap(), Loss::Mse);
    }

    #[test]
    fn heads_check_their_loss_and_outputs() {
        assert!(Head::new(Task::Regress, Loss::CrossEntropy)
            .check(1)
            .is_err());
        assert!(Head::new(Task::Binary, Loss::Bce).check(2).is_err());
        assert!(Head::new(Task::Binary, Loss::Bce).check(1).is_ok());
        assert!(Head::new(Task::Classify, Loss::CrossEntropy)
            .check(1)
            .is_err());
        let mut h = Head::new(Task::Multilabel, Loss::Bce);
        h.pos_weight = vec![1.0, 0.0];
        assert!(h.check(2).is_err());
        h.pos_weight = vec![1.0, 2.0, 3.0];
        assert!(h.check(2).is_err());
    }

    #[test]
    fn the_default_threshold_is_logit_zero() {
        assert_eq!(Head::new(Task::Binary, Loss::Bce).threshold_logit(), 0.0);
    }
}
