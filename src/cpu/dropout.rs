//! Inverted dropout, the twin of shaders/dropout.wgsl: the same counter-based mask
//! of (seed, step, layer, element), so both paths drop the same units.

use super::real::Real;

/// Which units one training step drops in one layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutMask {
    pub p: f32,
    pub seed: u64,
    /// The optimizer step being taken (1-based).
    pub step: u32,
    pub layer: u32,
}

impl DropoutMask {
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

    fn factor<T: Real>(&self, i: usize) -> T {
        match self.keeps(i as u32) {
            true => T::from_f32(self.scale()),
            false => T::ZERO,
        }
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

/// kept = a · mask (a, kept: batch×width).
pub fn dropout_forward<T: Real>(a: &[T], kept: &mut [T], mask: &DropoutMask) {
    for (i, (k, &v)) in kept.iter_mut().zip(a).enumerate() {
        *k = v * mask.factor(i);
    }
}

/// dz = dz · mask, in place.
pub fn dropout_backward<T: Real>(dz: &mut [T], mask: &DropoutMask) {
    for (i, g) in dz.iter_mut().enumerate() {
        *g *= mask.factor(i);
    }
}
