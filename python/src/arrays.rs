//! NumPy arrays in, library splits out: the only place the extension reads
//! array memory. The estimators hand over C-contiguous float32 or uint8
//! features and encoded targets (class indices as uint32, values as float32);
//! anything else is copied element by element rather than trusted.

use gpu_mlp::data::{Features, Targets};
use gpu_mlp::Split;
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::to_py;

/// A 2-D array of examples (rows) by features, as the library's features.
pub(crate) fn features(x: &Bound<'_, PyAny>) -> PyResult<(Features, usize)> {
    if let Ok(a) = x.extract::<PyReadonlyArray2<'_, f32>>() {
        let width = a.shape()[1];
        return Ok((Features::F32(owned(&a)), width));
    }
    if let Ok(a) = x.extract::<PyReadonlyArray2<'_, u8>>() {
        let width = a.shape()[1];
        return Ok((Features::U8(owned(&a)), width));
    }
    Err(PyTypeError::new_err(
        "features must be a 2-D NumPy array of float32 or uint8",
    ))
}

/// The targets: class indices (a 1-D uint32 array) or `width` values per
/// example (a 2-D float32 array).
pub(crate) fn targets(y: &Bound<'_, PyAny>) -> PyResult<Targets> {
    if let Ok(a) = y.extract::<PyReadonlyArray1<'_, u32>>() {
        return Ok(Targets::Classes(a.as_array().to_vec()));
    }
    if let Ok(a) = y.extract::<PyReadonlyArray2<'_, f32>>() {
        let width = a.shape()[1];
        return Ok(Targets::Values {
            values: owned(&a),
            width,
        });
    }
    Err(PyTypeError::new_err(
        "targets must be class indices (1-D uint32) or values (2-D float32)",
    ))
}

/// A split of `x`'s examples with `y`'s targets and, where given, a weight each.
pub(crate) fn split(
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    weights: Option<PyReadonlyArray1<'_, f32>>,
) -> PyResult<Split> {
    let (features, width) = features(x)?;
    let targets = targets(y)?;
    let split = match features {
        Features::F32(f) => Split::from_f32(f, targets, width),
        Features::U8(b) => Split::new(b, targets, width),
    }
    .map_err(to_py)?;
    match weights {
        Some(w) => split.with_weights(w.as_array().to_vec()).map_err(to_py),
        None => Ok(split),
    }
}

/// The array's elements in row-major order: one copy, from the slice when the
/// memory is C-contiguous, else element by element.
fn owned<T: numpy::Element + Copy>(a: &PyReadonlyArray2<'_, T>) -> Vec<T> {
    match a.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => a.as_array().iter().copied().collect(),
    }
}
