//! Inverted dropout, the twin of shaders/dropout.wgsl: the same counter-based mask
//! of (seed, step, layer, element), so both paths drop the same units.

use super::real::Real;
use crate::dropout::DropoutMask;

/// kept = a · mask (a, kept: batch×width).
pub fn dropout_forward<T: Real>(a: &[T], kept: &mut [T], mask: &DropoutMask) {
    for (i, (k, &v)) in kept.iter_mut().zip(a).enumerate() {
        *k = v * factor(mask, i);
    }
}

/// dz = dz · mask, in place.
pub fn dropout_backward<T: Real>(dz: &mut [T], mask: &DropoutMask) {
    for (i, g) in dz.iter_mut().enumerate() {
        *g *= factor(mask, i);
    }
}

/// Element `i`'s factor: 1/(1−p) where kept, 0 where dropped.
fn factor<T: Real>(mask: &DropoutMask, i: usize) -> T {
    match mask.keeps(i as u32) {
        true => T::from_f32(mask.scale()),
        false => T::ZERO,
    }
}
