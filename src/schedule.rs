//! Learning-rate schedules, the lr in force at every step, computed on the host and
//! handed to the backend with the step (the GPU path takes it in the step's
//! parameters: no read-back). Each follows its PyTorch namesake's formula.
//!
//! | schedule | lr at epoch e (0-based), step s of the run | PyTorch |
//! |---|---|---|
//! | `constant` | lr | — |
//! | `step` | lr · γ^⌊e / every⌋, changing at epoch boundaries | `StepLR(step_size=every, gamma=γ)` stepped per epoch |
//! | `cosine` | min + (lr − min)·(1 + cos(π·e/span))/2, per epoch, `min` from epoch `span` on | `CosineAnnealingLR(T_max=span, eta_min=min)` stepped per epoch |
//! | `onecycle` | per step: cosine from lr/25 up to lr over the first 30 % of span·steps, then down to lr/25/10⁴ | `OneCycleLR(max_lr=lr, total_steps=span·steps_per_epoch)` stepped per batch |
//!
//! `warmup` epochs (all but onecycle, which warms up by itself) scale the lr
//! linearly per step, from 1/(warmup·steps_per_epoch) up to 1, as PyTorch's
//! `LinearLR` stepped per batch does.

use crate::choice::Choice;
use crate::error::{Error, Result};

/// How the learning rate changes over a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleKind {
    /// The same rate throughout.
    Constant,
    /// Multiplied by `gamma` every `step_every` epochs.
    Step,
    /// Cosine annealing from `lr` to `min_lr` over `span` epochs.
    Cosine,
    /// One-cycle: up to `lr`, then down, over `span` epochs.
    OneCycle,
}

impl Choice for ScheduleKind {
    const ALL: &'static [Self] = &[
        ScheduleKind::Constant,
        ScheduleKind::Step,
        ScheduleKind::Cosine,
        ScheduleKind::OneCycle,
    ];
    const WHAT: &'static str = "learning-rate schedule";

    fn name(self) -> &'static str {
        match self {
            ScheduleKind::Constant => "constant",
            ScheduleKind::Step => "step",
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::OneCycle => "onecycle",
        }
    }
}

/// A schedule and its settings; `lr` is the optimizer's base (or peak) rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrSchedule {
    /// Which schedule.
    pub kind: ScheduleKind,
    /// The base (or peak) rate.
    pub lr: f32,
    /// Epochs of linear warmup (0: none).
    pub warmup: usize,
    /// `step`: epochs between decays.
    pub step_every: usize,
    /// `step`: the factor of each decay.
    pub gamma: f32,
    /// `cosine`: the final lr.
    pub min_lr: f32,
    /// `cosine`, `onecycle`: the epochs the schedule spans (PyTorch's T_max).
    pub span: usize,
}

impl LrSchedule {
    /// A constant lr.
    pub fn constant(lr: f32) -> Self {
        LrSchedule {
            kind: ScheduleKind::Constant,
            lr,
            warmup: 0,
            step_every: 1,
            gamma: 1.0,
            min_lr: 0.0,
            span: 1,
        }
    }

    /// Checks the settings, naming the one out of range.
    pub fn validate(&self) -> Result<()> {
        for (setting, value) in [("step_every", self.step_every), ("span", self.span)] {
            if value == 0 {
                return Err(Error::setting(setting, "0 must be at least 1"));
            }
        }
        if !(self.gamma.is_finite() && self.gamma > 0.0) {
            return Err(Error::setting(
                "gamma",
                format!("{} must be a finite number greater than 0", self.gamma),
            ));
        }
        if !(self.min_lr.is_finite() && (0.0..=self.lr).contains(&self.min_lr)) {
            return Err(Error::setting(
                "min_lr",
                format!(
                    "{} must be between 0 and the learning rate {}",
                    self.min_lr, self.lr
                ),
            ));
        }
        Ok(())
    }

    /// The lr for step `step` (0-based) of epoch `epoch` (0-based, counting every
    /// epoch of the run, resumed ones included), with `steps_per_epoch` steps an epoch.
    pub fn lr_at(&self, epoch: usize, step: usize, steps_per_epoch: usize) -> f32 {
        let spe = steps_per_epoch.max(1) as f64;
        let global = epoch as f64 * spe + step as f64;
        let lr = self.lr as f64;
        let scheduled = match self.kind {
            ScheduleKind::Constant => lr,
            ScheduleKind::Step => {
                lr * (self.gamma as f64)
                    .powi((epoch / self.step_every).min(i32::MAX as usize) as i32)
            }
            ScheduleKind::Cosine => {
                let min = self.min_lr as f64;
                let e = epoch.min(self.span) as f64;
                min + (lr - min) * (1.0 + (std::f64::consts::PI * e / self.span as f64).cos()) / 2.0
            }
            ScheduleKind::OneCycle => return one_cycle(lr, global, self.span as f64 * spe) as f32,
        };
        let warmup_steps = self.warmup as f64 * spe;
        let factor = match warmup_steps > 0.0 {
            true => ((global + 1.0) / warmup_steps).min(1.0),
            false => 1.0,
        };
        (scheduled * factor) as f32
    }
}

/// PyTorch's `OneCycleLR` with its defaults (pct_start 0.3, cosine annealing,
/// div_factor 25, final_div_factor 10⁴, two phases) at step `step` of `total`.
fn one_cycle(max_lr: f64, step: f64, total: f64) -> f64 {
    let initial = max_lr / 25.0;
    let min = initial / 1e4;
    let warm_end = 0.3 * total - 1.0;
    let end = total - 1.0;
    let anneal = |from: f64, to: f64, pct: f64| {
        to + (from - to) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0)
    };
    if step <= warm_end {
        anneal(initial, max_lr, step / warm_end.max(1e-12))
    } else {
        let pct = ((step - warm_end) / (end - warm_end).max(1e-12)).min(1.0);
        anneal(max_lr, min, pct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(kind: ScheduleKind) -> LrSchedule {
        LrSchedule {
            kind,
            lr: 0.1,
            warmup: 0,
            step_every: 3,
            gamma: 0.5,
            min_lr: 0.001,
            span: 10,
        }
    }

    /// PyTorch's formulas written out: StepLR, CosineAnnealingLR's closed form, and
    /// OneCycleLR's annealing, at every epoch (step 0) of a 10-epoch run.
    #[test]
    fn schedules_follow_pytorchs_formulas() {
        let pi = std::f64::consts::PI;
        // The settings as the schedule holds them: f32.
        let (lr, min) = (0.1f32 as f64, 0.001f32 as f64);
        for e in 0..12 {
            let step = lr * 0.5f64.powi((e / 3) as i32);
            assert_eq!(
                schedule(ScheduleKind::Step).lr_at(e, 0, 7),
                step as f32,
                "step {e}"
            );
            let t = e.min(10) as f64;
            let cosine = min + (lr - min) * (1.0 + (pi * t / 10.0).cos()) / 2.0;
            assert_eq!(
                schedule(ScheduleKind::Cosine).lr_at(e, 0, 7),
                cosine as f32,
                "cosine {e}"
            );
            assert_eq!(schedule(ScheduleKind::Constant).lr_at(e, 3, 7), 0.1);
        }
        // OneCycleLR(max_lr=0.1, total_steps=70): starts at max/25, peaks at step
        // 0.3·70 − 1 = 20, ends at max/25/1e4 on the last step.
        let one = schedule(ScheduleKind::OneCycle);
        assert_eq!(one.lr_at(0, 0, 7), (lr / 25.0) as f32);
        assert_eq!(one.lr_at(2, 6, 7), 0.1);
        assert_eq!(one.lr_at(9, 6, 7), (lr / 25.0 / 1e4) as f32);
        let mid = 44.0;
        let floor = lr / 25.0 / 1e4;
        let want = floor + (lr - floor) / 2.0 * ((pi * (mid - 20.0) / 49.0).cos() + 1.0);
        assert_eq!(one.lr_at(0, mid as usize, 7), want as f32);
    }

    #[test]
    fn warmup_ramps_linearly_per_step() {
        let s = LrSchedule {
            warmup: 2,
            ..schedule(ScheduleKind::Constant)
        };
        assert_eq!(s.lr_at(0, 0, 5), (0.1f32 as f64 / 10.0) as f32);
        assert_eq!(s.lr_at(1, 4, 5), 0.1);
        assert_eq!(s.lr_at(3, 0, 5), 0.1);
    }
}
