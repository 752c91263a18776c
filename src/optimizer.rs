//! Optimizer settings and state, shared by both backends and the checkpoints. The
//! updates themselves are `cpu::optimizer` and shaders/optimizer.wgsl.

use crate::choice::Choice;
use crate::error::{Error, Result};

/// Which update rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    /// Plain gradient descent: p ← p − lr·g.
    Sgd,
    /// Heavy-ball momentum, as PyTorch's SGD(momentum).
    Momentum,
    /// Adam.
    Adam,
    /// Adam with decoupled weight decay (PyTorch's `AdamW`).
    AdamW,
}

impl Choice for OptimizerKind {
    const ALL: &'static [Self] = &[
        OptimizerKind::Sgd,
        OptimizerKind::Momentum,
        OptimizerKind::Adam,
        OptimizerKind::AdamW,
    ];
    const WHAT: &'static str = "optimizer";

    fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
        }
    }
}

impl OptimizerKind {
    /// Learning rate when `--lr` is not given: the usual starting point for each.
    pub fn default_lr(self) -> f32 {
        match self {
            OptimizerKind::Sgd => 0.1,
            // Heavy-ball momentum 0.9 multiplies the step by ~10, so 0.01 moves like SGD at 0.1.
            OptimizerKind::Momentum => 0.01,
            OptimizerKind::Adam | OptimizerKind::AdamW => 0.001,
        }
    }

    /// Weight decay when `--weight-decay` is not given: PyTorch's defaults (0 for
    /// SGD and Adam, 0.01 for AdamW).
    pub fn default_weight_decay(self) -> f32 {
        match self {
            OptimizerKind::AdamW => 0.01,
            _ => 0.0,
        }
    }

    /// Per-parameter state arrays: none for SGD, the velocity for momentum, two
    /// moments for Adam. Every size computed for the state derives from this.
    pub fn state_arrays(self) -> usize {
        match self {
            OptimizerKind::Sgd => 0,
            OptimizerKind::Momentum => 1,
            OptimizerKind::Adam | OptimizerKind::AdamW => 2,
        }
    }
}

/// Optimizer hyper-parameters. Momentum is PyTorch's form (`v = μv + g; p -= lr·v`);
/// Adam is Kingma & Ba with bias correction. `weight_decay` is PyTorch's: for sgd,
/// momentum and adam an L2 term added to the gradient (`g + wd·p`), for adamw a
/// decoupled decay (`p ← p·(1 − lr·wd)` before the Adam step); biases are decayed
/// too, as PyTorch does by default.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Optimizer {
    /// The update rule.
    pub kind: OptimizerKind,
    /// Learning rate (the base rate of a schedule).
    pub lr: f32,
    /// Momentum factor (momentum only).
    pub momentum: f32,
    /// Adam's first-moment decay.
    pub beta1: f32,
    /// Adam's second-moment decay.
    pub beta2: f32,
    /// Adam's denominator guard.
    pub eps: f32,
    /// Weight decay (L2, or decoupled for AdamW).
    pub weight_decay: f32,
}

impl Optimizer {
    /// An optimizer of `kind` at `lr` (its default where None), Adam's usual betas and
    /// eps, and the kind's default weight decay.
    pub fn new(kind: OptimizerKind, lr: Option<f32>, momentum: f32) -> Self {
        Optimizer {
            kind,
            lr: lr.unwrap_or(kind.default_lr()),
            momentum,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: kind.default_weight_decay(),
        }
    }

    /// Checks the settings are finite and in range, naming the one that is not.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::setting(
                "lr",
                format!("{} must be a finite number greater than 0", self.lr),
            ));
        }
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return Err(Error::setting(
                "momentum",
                format!("{} must be in [0, 1)", self.momentum),
            ));
        }
        // Not flags (yet), but a checkpoint carries them: each must keep Adam finite.
        for (name, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(Error::Usage(format!("{name} {beta} must be in [0, 1)")));
            }
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::setting(
                "weight_decay",
                format!(
                    "{} must be a finite number of at least 0",
                    self.weight_decay
                ),
            ));
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::Usage(format!(
                "eps {} must be a finite number greater than 0",
                self.eps
            )));
        }
        Ok(())
    }
}

/// Per-parameter optimizer state: momentum's velocity (`m`), or Adam's two moments
/// (`m`, `v`); arrays an optimizer does not use are empty.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState<T> {
    /// First moments (momentum's velocity).
    pub m: Vec<T>,
    /// Second moments (Adam only).
    pub v: Vec<T>,
    /// Steps taken so far (Adam's bias correction uses it).
    pub t: u64,
}

impl<T: Clone + Default> OptimizerState<T> {
    /// Zeroed state for `params` parameters.
    pub fn new(kind: OptimizerKind, params: usize) -> Self {
        let len = |array: usize| {
            if kind.state_arrays() > array {
                params
            } else {
                0
            }
        };
        OptimizerState {
            m: vec![T::default(); len(0)],
            v: vec![T::default(); len(1)],
            t: 0,
        }
    }

    /// Fails unless this state belongs to `kind` over `params` parameters.
    pub fn check_fits(&self, kind: OptimizerKind, params: usize) -> Result<()> {
        let fresh = Self::new(kind, params);
        if (self.m.len(), self.v.len()) != (fresh.m.len(), fresh.v.len()) {
            return Err(Error::Usage(format!(
                "an optimizer state of {} + {} values does not fit {} over {params} parameters",
                self.m.len(),
                self.v.len(),
                kind.name()
            )));
        }
        Ok(())
    }
}
