//! A checkpoint's tensors: the flat parameter layout (and the optimizer's arrays
//! in the same layout) as PyTorch's named `nn.Linear` tensors and back, and the
//! input statistics. Every tensor read is checked (name, dtype, shape) before
//! anything is allocated for it.

use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors};

use crate::error::{Error, Result};
use crate::network::{transpose, Architecture};

/// A tensor to write: its name, shape and little-endian F32 bytes.
pub(super) type NamedTensor = (String, Vec<usize>, Vec<u8>);

/// Splits a flat array (parameters, or an optimizer array in their layout) into
/// `{prefix}layers.{l}.weight` ([out, in], as `nn.Linear` stores it) and
/// `{prefix}layers.{l}.bias` ([out]).
pub(super) fn to_tensors(arch: &Architecture, flat: &[f32], prefix: &str) -> Vec<NamedTensor> {
    let mut out = Vec::new();
    for layer in arch.dense_layers() {
        let (l, fan_in, fan_out) = (layer.index, layer.inputs, layer.outputs);
        let wt = transpose(&flat[layer.weight_range()], fan_in, fan_out);
        out.push((
            format!("{prefix}layers.{l}.weight"),
            vec![fan_out, fan_in],
            bytemuck::cast_slice(&wt).to_vec(),
        ));
        out.push((
            format!("{prefix}layers.{l}.bias"),
            vec![fan_out],
            bytemuck::cast_slice(&flat[layer.bias_range()]).to_vec(),
        ));
    }
    out
}

/// A one-dimensional F32 tensor of `len` values.
pub(super) fn read_vector(
    path: &Path,
    st: &SafeTensors,
    name: &str,
    len: usize,
) -> Result<Vec<f32>> {
    let bad = |problem: String| Error::data(path, problem);
    let t = st
        .tensor(name)
        .map_err(|_| bad(format!("tensor {name} is missing")))?;
    if t.dtype() != Dtype::F32 || t.shape() != [len] {
        return Err(bad(format!(
            "tensor {name} is {:?} {:?}, expected F32 [{len}]",
            t.dtype(),
            t.shape()
        )));
    }
    Ok(bytemuck::pod_collect_to_vec(t.data()))
}

/// The tensors `{prefix}layers.{l}.weight|bias` into the flat layout.
pub(super) fn read_flat(
    path: &Path,
    st: &SafeTensors,
    arch: &Architecture,
    prefix: &str,
) -> Result<Vec<f32>> {
    read_flat_named(path, st, arch, |l, suffix| {
        format!("{prefix}layers.{l}.{suffix}")
    })
}

/// The parameters of `arch` from tensors in PyTorch's layout (`weight` [out, in],
/// `bias` [out]) named by `name(layer, "weight" | "bias")`, in the flat layout
/// (weights transposed back to in×out). Every shape is checked before the flat
/// array is allocated, so its size is bounded by the tensors actually in the
/// file, not by what the metadata claims.
pub(crate) fn read_flat_named(
    path: &Path,
    st: &SafeTensors,
    arch: &Architecture,
    name: impl Fn(usize, &str) -> String,
) -> Result<Vec<f32>> {
    let bad = |problem: String| Error::data(path, problem);
    let mut views = Vec::with_capacity(2 * arch.layers());
    for layer in arch.dense_layers() {
        let (fan_in, fan_out) = (layer.inputs, layer.outputs);
        for (suffix, shape) in [("weight", vec![fan_out, fan_in]), ("bias", vec![fan_out])] {
            let name = name(layer.index, suffix);
            let t = st
                .tensor(&name)
                .map_err(|_| bad(format!("tensor {name} is missing")))?;
            if t.dtype() != Dtype::F32 {
                return Err(bad(format!(
                    "tensor {name} is {:?}, expected F32",
                    t.dtype()
                )));
            }
            if t.shape() != shape.as_slice() {
                return Err(bad(format!(
                    "tensor {name} has shape {:?}, expected {shape:?}",
                    t.shape()
                )));
            }
            views.push((layer, suffix, t));
        }
    }
    let mut flat = vec![0.0f32; arch.param_count()];
    for (layer, suffix, t) in views {
        let values: Vec<f32> = bytemuck::pod_collect_to_vec(t.data());
        match suffix {
            "bias" => flat[layer.bias_range()].copy_from_slice(&values),
            _ => flat[layer.weight_range()].copy_from_slice(&transpose(
                &values,
                layer.outputs,
                layer.inputs,
            )),
        }
    }
    Ok(flat)
}
