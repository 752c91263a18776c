//! The flags that describe the network and how it learns, shared by `train` and
//! `bench`. They are options rather than defaults so that `--resume` can tell a
//! flag the user gave (which must agree with the checkpoint) from one left out.

use clap::Args;

use super::args::{check_memory, choice, DeviceArgs};
use super::env::gpu_options_from_env;
use gpu_mlp::backend::{DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE};
use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::choice::Choice;
use gpu_mlp::data::normalize::Normalize;
use gpu_mlp::data::Dataset;
use gpu_mlp::data::MAX_CLASSES;
use gpu_mlp::network::{Activation, Architecture};
use gpu_mlp::optimizer::{Optimizer, OptimizerKind};
use gpu_mlp::task::{ClassWeight, Head, Loss};
use gpu_mlp::trainer::DEFAULT_HIDDEN;
use gpu_mlp::{Error, Trainer};

/// `--hidden`: layer widths, possibly none.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Hidden(pub(crate) Vec<usize>);

/// `128,64`, or `none` for no hidden layer. A width of 0 passes through to the
/// network's own check, which names it.
fn parse_hidden(text: &str) -> Result<Hidden, String> {
    if text.trim() == "none" {
        return Ok(Hidden(Vec::new()));
    }
    text.split(',')
        .map(|w| {
            w.trim()
                .parse::<usize>()
                .map_err(|_| format!("{w:?} is not a layer width; `none` means no hidden layer"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Hidden)
}

#[derive(Args)]
#[command(next_help_heading = "Network and optimizer")]
pub(crate) struct NetworkArgs {
    /// Hidden layer widths, comma-separated, or `none` for no hidden layer (a
    /// linear or logistic model) [default: 128].
    #[arg(long, value_name = "N,N,...|none", value_parser = parse_hidden)]
    pub(crate) hidden: Option<Hidden>,
    /// Hidden-layer activation [default: sigmoid].
    #[arg(long, value_parser = choice::<Activation>())]
    pub(crate) activation: Option<Activation>,
    /// Inverted dropout on every hidden layer's output while training, with this
    /// probability (PyTorch's nn.Dropout(p)) [default: 0].
    #[arg(long, value_name = "P")]
    pub(crate) dropout: Option<f32>,
    /// The loss: classify cross-entropy or softmax-mse; binary and multilabel
    /// bce; regress mse (½ mean squared error), mae or huber [default: the
    /// task's first].
    #[arg(long, value_parser = choice::<Loss>())]
    pub(crate) loss: Option<Loss>,
    /// Huber's δ, in standardized target units (PyTorch's HuberLoss) [default: 1].
    #[arg(long, value_name = "D")]
    pub(crate) huber_delta: Option<f32>,
    /// Binary and multilabel: the weight of positive examples, one, or one per
    /// label, comma-separated (PyTorch's pos_weight) [default: 1].
    #[arg(long, value_name = "W[,W…]", value_delimiter = ',')]
    pub(crate) pos_weight: Option<Vec<f32>>,
    /// Binary and multilabel: an output is positive when its probability is
    /// above this [default: 0.5].
    #[arg(long, value_name = "P")]
    pub(crate) threshold: Option<f32>,
    /// Classify and binary: weigh each training example by its class: `balanced`
    /// (n / (classes · count), scikit-learn's) or one weight per class.
    #[arg(long, value_name = "balanced|W,W,…")]
    pub(crate) class_weight: Option<String>,
    /// Regress: standardize the targets with the training split's mean and
    /// deviation (predictions come back in the targets' units) or not
    /// [default: standard].
    #[arg(long, value_name = "standard|none", value_parser = ["standard", "none"])]
    pub(crate) normalize_targets: Option<String>,
    /// Optimizer: SGD, heavy-ball momentum (PyTorch's SGD with momentum), Adam or
    /// AdamW (decoupled weight decay) [default: sgd].
    #[arg(long, value_parser = choice::<OptimizerKind>())]
    pub(crate) optimizer: Option<OptimizerKind>,
    /// Learning rate [default: 0.1 for sgd, 0.01 for momentum, 0.001 for adam].
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) lr: Option<f32>,
    /// Momentum coefficient [default: 0.9 for momentum]; with sgd, SGD with this
    /// momentum, as PyTorch's SGD(momentum=…).
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) momentum: Option<f32>,
    /// Weight decay: L2 added to the gradient for sgd, momentum and adam, decoupled
    /// for adamw, as PyTorch's weight_decay; biases too [default: 0, adamw 0.01].
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    pub(crate) weight_decay: Option<f32>,
    /// Examples per step [default: 100, or the checkpoint's with --resume].
    #[arg(long, value_name = "N")]
    pub(crate) batch_size: Option<usize>,
    /// Seed for initialisation and shuffling [default: 0].
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Number of classes; every label must be below it [default: from the data:
    /// its class names, else the largest label + 1].
    #[arg(long)]
    pub(crate) classes: Option<usize>,
    /// Input scaling, from the training split: none, unit ([0, 1]: bytes ÷ 255,
    /// floats by min/max) or standard (mean 0, std 1 per feature) [default: unit
    /// for bytes, standard for float data].
    #[arg(long, value_parser = choice::<Normalize>())]
    pub(crate) normalize: Option<Normalize>,
}

impl NetworkArgs {
    pub(crate) fn seed(&self) -> u64 {
        self.seed.unwrap_or(0)
    }

    pub(crate) fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(DEFAULT_BATCH_SIZE)
    }

    /// The hidden layers as given, else the default.
    pub(crate) fn hidden_layers(&self) -> Vec<usize> {
        self.hidden
            .as_ref()
            .map_or(DEFAULT_HIDDEN.to_vec(), |h| h.0.clone())
    }

    /// The network these flags describe for `data` (its task, inputs and outputs).
    pub(crate) fn architecture(&self, data: &Dataset) -> Result<Architecture, Error> {
        let mut head = Head::new(data.task, self.loss.unwrap_or(data.task.default_loss()));
        if let Some(d) = self.huber_delta {
            head.huber_delta = d;
        }
        if let Some(t) = self.threshold {
            head.threshold = t;
        }
        Architecture::with_head(
            data.width(),
            &self.hidden_layers(),
            data.outputs(),
            self.activation.unwrap_or(Activation::Sigmoid),
            head,
        )?
        .with_dropout(self.dropout.unwrap_or(0.0))
    }

    /// The library's trainer for a fresh network of these flags on `dataset`, with
    /// `opt`, on `device`, checked against the host's memory: what `train` and
    /// `bench` start from.
    pub(crate) fn trainer(
        &self,
        opt: Optimizer,
        device: &DeviceArgs,
        dataset: &Dataset,
    ) -> Result<Trainer, Error> {
        let arch = self.architecture(dataset)?;
        let batch = self.batch_size().min(dataset.train.len());
        check_memory(device, &arch, &opt, batch)?;
        let sizes = &arch.sizes;
        let mut trainer = Trainer::new(&sizes[1..sizes.len() - 1])
            .activation(arch.activation)
            .loss(arch.loss())
            .huber_delta(arch.head.huber_delta)
            .threshold(arch.head.threshold)
            .pos_weight(self.pos_weight.clone().unwrap_or_default())
            .normalize_targets(self.normalize_targets.as_deref() != Some("none"))
            .dropout(arch.dropout)
            .optimizer(opt)
            .batch_size(self.batch_size())
            .seed(self.seed())
            .device(device.device())
            .gpu_options(gpu_options_from_env()?);
        if let Some(n) = self.normalize {
            trainer = trainer.normalize(n);
        }
        if let Some(w) = &self.class_weight {
            trainer = trainer.class_weight(ClassWeight::parse(w)?);
        }
        Ok(trainer)
    }

    /// Checks the flags that need no data, so that mistakes fail before loading
    /// anything, and returns the optimizer they describe. `--momentum` with SGD means
    /// SGD with momentum (PyTorch's meaning); with Adam it is refused (Adam has beta1).
    pub(crate) fn optimizer(&self) -> Result<Optimizer, Error> {
        let kind = match (self.optimizer.unwrap_or(OptimizerKind::Sgd), self.momentum) {
            (OptimizerKind::Sgd, Some(m)) if m != 0.0 => OptimizerKind::Momentum,
            (kind @ (OptimizerKind::Adam | OptimizerKind::AdamW), Some(m)) => {
                return Err(Error::Usage(format!(
                    "--momentum {m} does not apply to --optimizer {} (its first-moment decay is beta1 = 0.9)",
                    kind.name()
                )))
            }
            (kind, _) => kind,
        };
        let lr = self.lr.or(self.optimizer.map(OptimizerKind::default_lr));
        let mut opt = Optimizer::new(kind, lr, self.momentum.unwrap_or(0.9));
        if let Some(wd) = self.weight_decay {
            opt.weight_decay = wd;
        }
        opt.validate()?;
        if let Some(b) = self.batch_size {
            if !(1..=MAX_BATCH_SIZE).contains(&b) {
                return Err(Error::Usage(format!(
                    "--batch-size {b} must be between 1 and {MAX_BATCH_SIZE}"
                )));
            }
        }
        if let Some(p) = self.dropout.filter(|p| !(0.0..1.0).contains(p)) {
            return Err(Error::Usage(format!("--dropout {p} must be in [0, 1)")));
        }
        if let Some(c) = self.classes.filter(|c| !(2..=MAX_CLASSES).contains(c)) {
            return Err(Error::Usage(format!(
                "--classes {c} must be between 2 and {MAX_CLASSES}"
            )));
        }
        if let Some(w) = &self.class_weight {
            ClassWeight::parse(w)?;
        }
        if let Some(bad) = self
            .pos_weight
            .iter()
            .flatten()
            .find(|w| !(w.is_finite() && **w > 0.0))
        {
            return Err(Error::Usage(format!(
                "--pos-weight {bad} must be a positive number"
            )));
        }
        Ok(opt)
    }

    /// For `--resume`: every network flag given must agree with the checkpoint
    /// (`--lr` and `--batch-size` may change); a conflict names the flag and both values.
    pub(crate) fn check_agrees_with(&self, c: &Checkpoint) -> Result<(), Error> {
        let sizes = &c.settings.arch.sizes;
        let hidden = sizes[1..sizes.len() - 1].to_vec();
        let conflicts = [
            differs(
                "--hidden",
                self.hidden.as_ref().map(|h| &h.0),
                &hidden,
                |h| match h.is_empty() {
                    true => "none".into(),
                    false => h
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                },
            ),
            differs(
                "--activation",
                self.activation.as_ref(),
                &c.settings.arch.activation,
                |a| a.name().into(),
            ),
            differs("--loss", self.loss.as_ref(), &c.settings.arch.loss(), |l| {
                l.name().into()
            }),
            differs(
                "--seed",
                self.seed.as_ref(),
                &c.settings.seed,
                u64::to_string,
            ),
            differs(
                "--normalize",
                self.normalize.as_ref(),
                &c.settings.input.kind,
                |n| n.name().into(),
            ),
            differs(
                "--classes",
                self.classes.as_ref(),
                &c.settings.arch.classes(),
                usize::to_string,
            ),
            differs(
                "--dropout",
                self.dropout.as_ref(),
                &c.settings.arch.dropout,
                f32::to_string,
            ),
            differs(
                "--momentum",
                self.momentum.as_ref(),
                &c.settings.opt.momentum,
                f32::to_string,
            )
            .filter(|_| c.settings.opt.kind == OptimizerKind::Momentum),
        ];
        if let Some(conflict) = conflicts.into_iter().flatten().next() {
            return Err(conflict);
        }
        match (self.optimizer, self.momentum) {
            (Some(kind), _)
                if self.optimizer().map(|o| o.kind).ok() != Some(c.settings.opt.kind) =>
            {
                Err(resume_conflict(
                    "--optimizer",
                    kind.name(),
                    c.settings.opt.kind.name(),
                ))
            }
            (None, Some(_)) if c.settings.opt.kind != OptimizerKind::Momentum => {
                Err(Error::Usage(format!(
                    "--momentum: the checkpoint trains with {}, which has no momentum",
                    c.settings.opt.kind.name()
                )))
            }
            _ => Ok(()),
        }
    }
}

/// The conflict error if the flag was given and differs from the checkpoint's value.
fn differs<T: PartialEq>(
    flag: &str,
    given: Option<&T>,
    saved: &T,
    show: impl Fn(&T) -> String,
) -> Option<Error> {
    let given = given.filter(|g| *g != saved)?;
    Some(resume_conflict(flag, &show(given), &show(saved)))
}

fn resume_conflict(flag: &str, given: &str, saved: &str) -> Error {
    Error::Usage(format!(
        "{flag} {given} conflicts with the checkpoint's {saved}: a resumed run keeps its \
         network and optimizer (leave {flag} out, or give the checkpoint's value)"
    ))
}
