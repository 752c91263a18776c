//! What the network sees of an example: feature j becomes `(x − shift[j])·scale[j]`,
//! computed the same way (a subtraction, then a multiplication, in f32) by the CPU
//! gather and the GPU's, so both paths see bit-identical inputs. The statistics
//! come from the training split and travel in the checkpoint, so that `eval`,
//! `predict` and a resumed run transform inputs exactly as training did.

use super::{Dtype, Features, Row, Split};
use crate::choice::Choice;
use crate::error::{Error, Result};

/// How features are scaled before the first layer (`--normalize`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalize {
    /// As they are.
    None,
    /// Into [0, 1]: bytes ÷ 255; floats by each feature's training minimum and
    /// maximum (scikit-learn's `MinMaxScaler`).
    Unit,
    /// Each feature to mean 0 and standard deviation 1 over the training split
    /// (scikit-learn's `StandardScaler`; a constant feature is only centred).
    Standard,
}

impl Choice for Normalize {
    const ALL: &'static [Self] = &[Normalize::None, Normalize::Unit, Normalize::Standard];
    const WHAT: &'static str = "normalization";
    fn name(self) -> &'static str {
        match self {
            Normalize::None => "none",
            Normalize::Unit => "unit",
            Normalize::Standard => "standard",
        }
    }
}

impl Normalize {
    /// The default for features of that type: `unit` for bytes (pixels), `standard`
    /// for floats.
    pub fn default_for(dtype: Dtype) -> Normalize {
        match dtype {
            Dtype::U8 => Normalize::Unit,
            Dtype::F32 => Normalize::Standard,
        }
    }
}

/// The per-feature transform of a model's inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct InputTransform {
    /// How the statistics were chosen.
    pub kind: Normalize,
    /// The element type the model takes (`predict` turns files into it).
    pub dtype: Dtype,
    /// Subtracted from each feature first.
    pub shift: Vec<f32>,
    /// Then multiplied.
    pub scale: Vec<f32>,
}

/// 1/255 rounded to f32: the byte scale both paths have always used.
const BYTE_SCALE: f32 = 1.0 / 255.0;

impl InputTransform {
    /// Bytes ÷ 255, the transform of MNIST-format models (and of checkpoints that
    /// predate stored statistics).
    pub fn unit_bytes(width: usize) -> Self {
        InputTransform {
            kind: Normalize::Unit,
            dtype: Dtype::U8,
            shift: vec![0.0; width],
            scale: vec![BYTE_SCALE; width],
        }
    }

    /// The transform of `kind` with statistics from `split` (the training examples).
    pub fn fit(kind: Normalize, split: &Split) -> Self {
        let width = split.width;
        let dtype = split.features.dtype();
        let (shift, scale) = match (kind, &split.features) {
            (Normalize::None, _) => (vec![0.0; width], vec![1.0; width]),
            (Normalize::Unit, Features::U8(_)) => return Self::unit_bytes(width),
            (Normalize::Unit, _) => min_max(split),
            (Normalize::Standard, _) => mean_std(split),
        };
        InputTransform {
            kind,
            dtype,
            shift,
            scale,
        }
    }

    /// The first feature of `split` whose values, less this transform's shift,
    /// leave f32's range (the shift is applied in f32 on both paths): its index
    /// and the values' least and greatest. Finite CSV values near ±3e38 do.
    pub fn first_overflow(&self, split: &Split) -> Option<(usize, f64, f64)> {
        let mut lo = vec![f64::INFINITY; split.width];
        let mut hi = vec![f64::NEG_INFINITY; split.width];
        for_each_value(split, |j, x| {
            lo[j] = lo[j].min(x);
            hi[j] = hi[j].max(x);
        });
        (0..split.width.min(self.shift.len())).find_map(|j| {
            let t = self.shift[j] as f64;
            let widest = (hi[j] - t).abs().max((lo[j] - t).abs());
            (widest > f32::MAX as f64).then_some((j, lo[j], hi[j]))
        })
    }

    /// Features per example.
    pub fn width(&self) -> usize {
        self.scale.len()
    }

    /// Whether the statistics must be stored (they are not implied by kind and dtype).
    pub fn has_statistics(&self) -> bool {
        match self.kind {
            Normalize::None => false,
            Normalize::Unit => self.dtype == Dtype::F32,
            Normalize::Standard => true,
        }
    }

    /// Checks statistics read from a file: `width` of each, finite, scales nonzero.
    pub fn check(&self, width: usize) -> Result<()> {
        if self.shift.len() != width || self.scale.len() != width {
            return Err(Error::Usage(format!(
                "input statistics for {} and {} features; the network takes {width}",
                self.shift.len(),
                self.scale.len()
            )));
        }
        let bad = self.shift.iter().chain(&self.scale).any(|v| !v.is_finite())
            || self.scale.contains(&0.0);
        if bad {
            return Err(Error::Usage(
                "input statistics must be finite, scales nonzero".into(),
            ));
        }
        Ok(())
    }

    /// Transforms one example into `out` (its width).
    pub fn apply(&self, row: Row<'_>, out: &mut [f32]) {
        let stats = self.shift.iter().zip(&self.scale);
        match row {
            Row::U8(v) => {
                for ((o, &x), (&t, &s)) in out.iter_mut().zip(v).zip(stats) {
                    *o = (x as f32 - t) * s;
                }
            }
            Row::F32(v) => {
                for ((o, &x), (&t, &s)) in out.iter_mut().zip(v).zip(stats) {
                    *o = (x - t) * s;
                }
            }
        }
    }
}

/// Visits every feature value of the split as f64, feature by feature order within
/// an example, examples in order (a fixed order: the same sums every run).
fn for_each_value(split: &Split, mut f: impl FnMut(usize, f64)) {
    match &split.features {
        Features::U8(v) => v
            .iter()
            .enumerate()
            .for_each(|(i, &x)| f(i % split.width, x as f64)),
        Features::F32(v) => v
            .iter()
            .enumerate()
            .for_each(|(i, &x)| f(i % split.width, x as f64)),
    }
}

/// The reciprocal of a spread, or 1 where a feature does not vary (so that it is
/// only shifted, never divided by zero).
fn reciprocal(spread: f64) -> f32 {
    let r = (1.0 / spread) as f32;
    if spread > 0.0 && r.is_finite() {
        r
    } else {
        1.0
    }
}

fn min_max(split: &Split) -> (Vec<f32>, Vec<f32>) {
    let mut lo = vec![f64::INFINITY; split.width];
    let mut hi = vec![f64::NEG_INFINITY; split.width];
    for_each_value(split, |j, x| {
        lo[j] = lo[j].min(x);
        hi[j] = hi[j].max(x);
    });
    let scale = lo.iter().zip(&hi).map(|(l, h)| reciprocal(h - l)).collect();
    (lo.iter().map(|&l| l as f32).collect(), scale)
}

fn mean_std(split: &Split) -> (Vec<f32>, Vec<f32>) {
    let n = split.len() as f64;
    let mut sum = vec![0.0f64; split.width];
    for_each_value(split, |j, x| sum[j] += x);
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    // Two passes: the deviations' squares, not E[x²] − E[x]², which cancels badly.
    let mut sq = vec![0.0f64; split.width];
    for_each_value(split, |j, x| sq[j] += (x - mean[j]) * (x - mean[j]));
    let scale = sq.iter().map(|s| reciprocal((s / n).sqrt())).collect();
    (mean.iter().map(|&m| m as f32).collect(), scale)
}
