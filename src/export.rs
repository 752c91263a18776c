//! `gpu-mlp export`: a trained network as an ONNX model, for onnxruntime, TensorRT,
//! onnxruntime-web and every other runtime that reads ONNX.
//!
//! The graph takes what `gpu-mlp predict` takes, raw feature values (pixels 0–255)
//! as float32 of shape `[batch, features]` with a dynamic batch, and applies the
//! input normalization the network was trained with as its first nodes:
//!
//! ```text
//! input ─ Sub(shift) ─ Mul(scale) ─ Gemm(layers.0) ─ act ─ … ─ Gemm(layers.L) ─┬─ logits
//!                                                                               └─ head
//! ```
//!
//! The head follows the task: `Softmax` → `probabilities` [batch, classes]
//! (classify); `Sigmoid` → `probabilities` [batch, outputs], each output's chance
//! of being positive (binary: one, the second class's; multilabel: one a label);
//! `Mul(target_scale)` · `Add(target_shift)` → `predictions` [batch, outputs] in
//! the targets' own units (regress; without standardization, the logits as they are).
//!
//! Weights are stored as `torch.nn.Linear` stores them ([out, in], `transB = 1`), under
//! the checkpoint's names. Opset 17 (ONNX 1.12, 2022): every op used here has had its
//! current definition since opset 13–14, and opset 17 is what onnxruntime ≥ 1.12,
//! TensorRT ≥ 8.5 and onnxruntime-web all load; newer opsets add nothing this graph
//! uses and would lock out older deployments.

use std::path::Path;

use prost::Message;

use crate::checkpoint::Checkpoint;
use crate::choice::Choice;
use crate::data::normalize::InputTransform;
use crate::error::{Error, Result};
use crate::files::write_atomically;
use crate::network::{transpose, Activation};
use crate::task::{Head, HeadKernel};

/// Types generated from proto/onnx.proto (the ONNX project's schema) by build.rs.
#[allow(clippy::all, missing_docs)]
pub mod onnx {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

use onnx::tensor_proto::DataType;
use onnx::{
    attribute_proto, tensor_shape_proto, type_proto, AttributeProto, GraphProto, ModelProto,
    NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};

/// The opset the graph is written against.
pub const OPSET: i64 = 17;
/// The IR version that goes with opset 17.
const IR_VERSION: i64 = 8;

/// The ONNX model of a checkpoint's network.
pub fn to_onnx(checkpoint: &Checkpoint) -> Result<ModelProto> {
    let arch = &checkpoint.settings.arch;
    // A checkpoint that loaded has a consistent network; these guard a hand-made one.
    if checkpoint.state.params.len() != arch.param_count() || arch.layers() == 0 {
        return Err(Error::Usage(format!(
            "{} parameters do not make a {} network",
            checkpoint.state.params.len(),
            arch.shape_string()
        )));
    }
    let mut graph = GraphProto {
        name: Some(format!("gpu-mlp {}", arch.shape_string())),
        input: vec![value_info("input", arch.inputs())],
        output: vec![value_info("logits", arch.outputs())],
        ..Default::default()
    };
    let scaled = push_normalization(&mut graph, &checkpoint.settings.input);
    let logits = push_layers(&mut graph, checkpoint, scaled);
    let answer = push_head(&mut graph, &arch.head, &logits, arch.outputs());
    graph.output.push(value_info(answer, arch.outputs()));
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("gpu-mlp".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        doc_string: Some(
            "A multi-layer perceptron trained by gpu-mlp. Input: raw pixel (or feature) \
             values as float32 [batch, features], normalized inside the graph; \
             outputs: logits and the task's answer [batch, outputs] (probabilities, \
             or predictions in the targets' units for a regression)."
                .into(),
        ),
        metadata_props: metadata(checkpoint),
        graph: Some(graph),
        ..Default::default()
    })
}

/// (input − shift)·scale, as the training inputs were transformed; returns the
/// name of the normalized input.
fn push_normalization(graph: &mut GraphProto, input: &InputTransform) -> String {
    let width = [input.width()];
    graph
        .initializer
        .push(tensor("input_shift", &width, &input.shift));
    graph
        .initializer
        .push(tensor("input_scale", &width, &input.scale));
    graph
        .node
        .push(node("Sub", &["input", "input_shift"], "shifted", vec![]));
    graph
        .node
        .push(node("Mul", &["shifted", "input_scale"], "scaled", vec![]));
    "scaled".to_string()
}

/// Every dense layer on `x`: a Gemm with PyTorch's `[out, in]` weights (transB)
/// and the hidden activation; returns the last layer's output, `logits`.
fn push_layers(graph: &mut GraphProto, checkpoint: &Checkpoint, mut x: String) -> String {
    let params = &checkpoint.state.params;
    for layer in checkpoint.settings.arch.dense_layers() {
        let l = layer.index;
        let (weight, bias) = (format!("layers.{l}.weight"), format!("layers.{l}.bias"));
        let w = transpose(&params[layer.weight_range()], layer.inputs, layer.outputs);
        let shape = [layer.outputs, layer.inputs];
        graph.initializer.push(tensor(&weight, &shape, &w));
        let b = &params[layer.bias_range()];
        graph.initializer.push(tensor(&bias, &[layer.outputs], b));
        let z = match layer.activation {
            Some(_) => format!("layers.{l}.z"),
            None => "logits".to_string(),
        };
        let transposed = vec![int_attr("transB", 1)];
        graph
            .node
            .push(node("Gemm", &[&x, &weight, &bias], &z, transposed));
        x = z;
        if let Some(act) = layer.activation {
            let a = format!("layers.{l}.a");
            graph.node.push(node(activation_op(act), &[&x], &a, vec![]));
            x = a;
        }
    }
    x
}

/// The head's answer from the logits (see the module's graph); returns the
/// output's name.
fn push_head(graph: &mut GraphProto, head: &Head, logits: &str, outputs: usize) -> &'static str {
    match head.task.kernel() {
        HeadKernel::Softmax => {
            let axis = vec![int_attr("axis", 1)];
            graph
                .node
                .push(node("Softmax", &[logits], "probabilities", axis));
            "probabilities"
        }
        HeadKernel::Sigmoid => {
            graph
                .node
                .push(node("Sigmoid", &[logits], "probabilities", vec![]));
            "probabilities"
        }
        HeadKernel::Identity if head.target_scale.is_empty() => {
            graph
                .node
                .push(node("Identity", &[logits], "predictions", vec![]));
            "predictions"
        }
        HeadKernel::Identity => {
            let width = [outputs];
            let (scale, shift) = (&head.target_scale, &head.target_shift);
            graph
                .initializer
                .push(tensor("target_scale", &width, scale));
            graph
                .initializer
                .push(tensor("target_shift", &width, shift));
            let scaled = node("Mul", &[logits, "target_scale"], "scaled_outputs", vec![]);
            graph.node.push(scaled);
            let units = node(
                "Add",
                &["scaled_outputs", "target_shift"],
                "predictions",
                vec![],
            );
            graph.node.push(units);
            "predictions"
        }
    }
}

/// Writes `model`'s ONNX form to `path` atomically.
pub fn export(checkpoint: &Checkpoint, path: &Path) -> Result<()> {
    let bytes = to_onnx(checkpoint)?.encode_to_vec();
    write_atomically(path, &bytes)
}

fn activation_op(act: Activation) -> &'static str {
    match act {
        Activation::Sigmoid => "Sigmoid",
        Activation::Relu => "Relu",
        Activation::Tanh => "Tanh",
    }
}

/// The network's description and training settings, as `metadata_props`.
fn metadata(checkpoint: &Checkpoint) -> Vec<StringStringEntryProto> {
    let arch = &checkpoint.settings.arch;
    let mut props = vec![
        ("layers", arch.shape_string()),
        ("activation", arch.activation.name().to_string()),
        ("loss", arch.loss().name().to_string()),
        ("task", arch.task().name().to_string()),
        ("optimizer", checkpoint.settings.opt.kind.name().to_string()),
        ("lr", checkpoint.settings.opt.lr.to_string()),
        ("batch_size", checkpoint.settings.batch_size.to_string()),
        ("epochs_trained", checkpoint.state.epochs_trained.to_string()),
        ("seed", checkpoint.settings.seed.to_string()),
        ("image_rows", checkpoint.settings.rows.to_string()),
        ("image_cols", checkpoint.settings.cols.to_string()),
        ("image_channels", checkpoint.settings.channels.to_string()),
        ("input_layout", checkpoint.settings.layout.name().to_string()),
        (
            "input_scaling",
            format!(
                "{} normalization, (x - input_shift) * input_scale inside the graph: feed raw values",
                checkpoint.settings.input.kind.name()
            ),
        ),
    ];
    if let Some(names) = &checkpoint.settings.class_names {
        props.push((
            "class_names",
            serde_json::to_string(names).unwrap_or_default(),
        ));
    }
    props
        .into_iter()
        .map(|(key, value)| StringStringEntryProto {
            key: Some(key.to_string()),
            value: Some(value),
        })
        .collect()
}

/// A float32 tensor of `[batch, width]` with a symbolic batch dimension.
fn value_info(name: &str, width: usize) -> ValueInfoProto {
    let dim = |value| tensor_shape_proto::Dimension {
        value: Some(value),
        ..Default::default()
    };
    let shape = TensorShapeProto {
        dim: vec![
            dim(tensor_shape_proto::dimension::Value::DimParam(
                "batch".into(),
            )),
            dim(tensor_shape_proto::dimension::Value::DimValue(width as i64)),
        ],
    };
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(shape),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A float32 initializer, its values little-endian in `raw_data`.
fn tensor(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(DataType::Float as i32),
        raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(format!("{op}:{output}")),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

fn int_attr(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_proto::AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}
