//! Dropout's masks, shared by both paths: which units a training step drops is a
//! counter-based hash of (seed, step, layer, element), so the CPU reference
//! (`cpu::dropout`) and the shader (`shaders/dropout.wgsl`) drop the same units
//! with no mask stored anywhere.

use crate::network::Layer;

/// Which training step's dropout masks a forward pass uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DropoutStep {
    /// The run's seed.
    pub seed: u64,
    /// The optimizer step being taken (1-based).
    pub step: u32,
}

impl DropoutStep {
    /// The step an optimizer that has taken `steps` updates takes next (its count
    /// after the update): what both backends' forward and backward passes use.
    pub fn next(seed: u64, steps: u64) -> Self {
        DropoutStep {
            seed,
            step: (steps + 1) as u32,
        }
    }
}

/// Which units one training step drops in one layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutMask {
    /// The probability of dropping a unit.
    pub p: f32,
    /// The run's seed.
    pub seed: u64,
    /// The optimizer step being taken (1-based).
    pub step: u32,
    /// The layer's index.
    pub layer: u32,
}

impl DropoutMask {
    /// `layer`'s mask for a training step; None when evaluating (no step) or for a
    /// layer without dropout.
    pub fn for_layer(layer: &Layer, step: Option<DropoutStep>) -> Option<DropoutMask> {
        let (p, step) = (layer.dropout?, step?);
        Some(DropoutMask {
            p,
            seed: step.seed,
            step: step.step,
            layer: layer.index as u32,
        })
    }

    /// Units whose hash is below this are dropped: p·2³².
    pub fn threshold(&self) -> u32 {
        (self.p as f64 * 4_294_967_296.0).min(u32::MAX as f64) as u32
    }

    /// The factor kept units are scaled by: 1/(1−p), in f32 as the GPU gets it.
    pub fn scale(&self) -> f32 {
        1.0 / (1.0 - self.p)
    }

    /// Whether element `i` (row-major over batch×width) is kept.
    pub fn keeps(&self, i: u32) -> bool {
        let h = mix(
            mix(mix(mix(i ^ mix(self.layer)) ^ self.step) ^ self.seed as u32)
                ^ (self.seed >> 32) as u32,
        );
        h >= self.threshold()
    }
}

/// lowbias32 (Chris Wellons' integer hash), as in dropout.wgsl.
pub fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}
