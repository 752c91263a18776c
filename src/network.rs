//! The network's description, shared by both backends: layer sizes, the hidden
//! activation, the output loss and dropout ([`Architecture`]), each dense layer
//! described once ([`Layer`]), the flat parameter layout, and seeded initialisation.
//!
//! Parameters live in one contiguous f32 array (llm.c style) so that upload,
//! read-back and the optimizer sweep each touch one allocation. Layer `l` maps
//! `sizes[l]` inputs to `sizes[l+1]` outputs and stores, in order,
//! `W_l` (in×out, row-major: `W[i][j]` at `i*out + j`) then `b_l` (out).

use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::rng::Rng;
pub use crate::task::Loss;
use crate::task::{Head, Task};

/// The hidden layers' non-linearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// 1 / (1 + e^−x), the tutorial's.
    Sigmoid,
    /// max(0, x).
    Relu,
    /// tanh(x).
    Tanh,
}

impl Choice for Activation {
    const ALL: &'static [Self] = &[Activation::Sigmoid, Activation::Relu, Activation::Tanh];
    const WHAT: &'static str = "activation";

    fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
        }
    }
}

impl Activation {
    /// The code the shaders use for this activation (see shaders/activation.wgsl).
    pub fn code(self) -> u32 {
        match self {
            Activation::Sigmoid => 1,
            Activation::Relu => 2,
            Activation::Tanh => 3,
        }
    }

    /// The shader code of an optional activation: 0 leaves a product linear.
    pub fn code_of(act: Option<Activation>) -> u32 {
        act.map_or(0, Activation::code)
    }
}

/// One dense layer as both backends see it: `z = act(a·W + b)` for an input `a`
/// (batch×inputs), `W` (inputs×outputs) and `b` (outputs) at their offsets in the
/// flat parameter array. Built only by `Architecture::layer`, so that the two
/// paths cannot disagree about a layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layer {
    /// Position in the network, 0 for the layer that reads the input batch.
    pub index: usize,
    /// Width of the layer's input.
    pub inputs: usize,
    /// Width of its output.
    pub outputs: usize,
    /// Where its weights start in the flat parameter vector.
    pub weight_offset: usize,
    /// Where its biases start.
    pub bias_offset: usize,
    /// The activation applied to this layer's output; None for the output layer,
    /// whose logits go to the softmax.
    pub activation: Option<Activation>,
    /// The activation that produced this layer's input, whose derivative the input
    /// gradient needs; None for the first layer, whose input needs no gradient.
    pub input_activation: Option<Activation>,
    /// Dropout on this layer's output while training (hidden layers only).
    pub dropout: Option<f32>,
}

impl Layer {
    /// Weights and bias, in the flat layout.
    pub fn param_range(&self) -> std::ops::Range<usize> {
        self.weight_offset..self.bias_offset + self.outputs
    }

    /// The weight block `W` (inputs×outputs).
    pub fn weight_range(&self) -> std::ops::Range<usize> {
        self.weight_offset..self.bias_offset
    }

    /// The bias `b` (outputs).
    pub fn bias_range(&self) -> std::ops::Range<usize> {
        self.bias_offset..self.bias_offset + self.outputs
    }
}

/// Layer sizes (input, hidden…, outputs), hidden activation and output head.
#[derive(Clone, Debug, PartialEq)]
pub struct Architecture {
    /// Layer widths, input first, outputs last.
    pub sizes: Vec<usize>,
    /// The hidden layers' activation.
    pub activation: Activation,
    /// The output head: task, loss and their settings.
    pub head: Head,
    /// Inverted dropout on every hidden layer's output while training (0: none).
    pub dropout: f32,
}

impl Architecture {
    /// A network of `inputs` → `hidden`… → `outputs` whose head is the one `loss`
    /// implies (`Head::for_loss`: the softmax losses classify), checked: no empty
    /// layer, outputs the head takes, at most 2³² − 1 parameters.
    pub fn new(
        inputs: usize,
        hidden: &[usize],
        outputs: usize,
        activation: Activation,
        loss: Loss,
    ) -> Result<Self> {
        Self::with_head(inputs, hidden, outputs, activation, Head::for_loss(loss))
    }

    /// A network of `inputs` → `hidden`… → `outputs` with the output head `head`.
    pub fn with_head(
        inputs: usize,
        hidden: &[usize],
        outputs: usize,
        activation: Activation,
        head: Head,
    ) -> Result<Self> {
        if hidden.contains(&0) {
            return Err(Error::setting(
                "hidden",
                format!("{hidden:?}: every hidden layer needs at least one unit"),
            ));
        }
        if inputs == 0 {
            return Err(Error::Usage("a network needs at least one input".into()));
        }
        head.check(outputs)?;
        let mut sizes = vec![inputs];
        sizes.extend_from_slice(hidden);
        sizes.push(outputs);
        // Counted in u128, so that no width a caller can pass overflows the check
        // that keeps every later offset (u32 on the GPU) exact.
        let count = sizes.windows(2).fold(0u128, |sum, w| {
            let layer = (w[0] as u128).saturating_mul(w[1] as u128) + w[1] as u128;
            sum.saturating_add(layer)
        });
        if count > u32::MAX as u128 {
            return Err(Error::Usage(format!(
                "a {} network has {count} parameters; at most {} are supported",
                sizes
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join("-"),
                u32::MAX
            )));
        }
        Ok(Architecture {
            sizes,
            activation,
            head,
            dropout: 0.0,
        })
    }

    /// Number of weight layers.
    pub fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Width of the input (pixels per image).
    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    /// Width of the output layer (classes, labels or target values; 1 for binary).
    pub fn outputs(&self) -> usize {
        *self.sizes.last().unwrap()
    }

    /// The classes a classifier tells apart (2 for a binary one, whose one output
    /// is the second's logit); for the other tasks, their outputs.
    pub fn classes(&self) -> usize {
        match self.head.task {
            Task::Binary => 2,
            _ => self.outputs(),
        }
    }

    /// The task.
    pub fn task(&self) -> Task {
        self.head.task
    }

    /// The loss.
    pub fn loss(&self) -> Loss {
        self.head.loss
    }

    /// (in, out) of layer `l`.
    pub fn layer_shape(&self, l: usize) -> (usize, usize) {
        (self.sizes[l], self.sizes[l + 1])
    }

    /// The same network with dropout `p` on its hidden layers.
    pub fn with_dropout(self, p: f32) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::setting("dropout", format!("{p} must be in [0, 1)")));
        }
        Ok(Architecture { dropout: p, ..self })
    }

    /// Layer `l`'s description.
    pub fn layer(&self, l: usize) -> Layer {
        let (inputs, outputs) = self.layer_shape(l);
        let hidden = |i: usize| (i + 1 < self.layers()).then_some(self.activation);
        Layer {
            index: l,
            inputs,
            outputs,
            weight_offset: self.weight_offset(l),
            bias_offset: self.bias_offset(l),
            activation: hidden(l),
            input_activation: l.checked_sub(1).and_then(hidden),
            dropout: hidden(l).and((self.dropout > 0.0).then_some(self.dropout)),
        }
    }

    /// Every layer, input first.
    pub fn dense_layers(&self) -> impl DoubleEndedIterator<Item = Layer> + '_ {
        (0..self.layers()).map(|l| self.layer(l))
    }

    /// Offset of `W_l` in the flat parameter array.
    pub fn weight_offset(&self, l: usize) -> usize {
        (0..l)
            .map(|i| {
                let (fan_in, fan_out) = self.layer_shape(i);
                fan_in * fan_out + fan_out
            })
            .sum()
    }

    /// Offset of `b_l` in the flat parameter array.
    pub fn bias_offset(&self, l: usize) -> usize {
        let (fan_in, fan_out) = self.layer_shape(l);
        self.weight_offset(l) + fan_in * fan_out
    }

    /// Weights and biases of all layers.
    pub fn param_count(&self) -> usize {
        self.weight_offset(self.layers())
    }

    /// The widest layer (activations per example), for sizing workspaces.
    pub fn widest(&self) -> usize {
        *self.sizes.iter().max().unwrap()
    }

    /// "784-128-10"
    pub fn shape_string(&self) -> String {
        self.sizes
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// Seeded initialisation: Glorot/Xavier uniform for sigmoid and tanh layers,
    /// He uniform for relu layers, Glorot for the output layer (it feeds softmax,
    /// not the hidden activation), zero biases. Draws layer by layer, row-major.
    pub fn init_params(&self, rng: &mut Rng) -> Vec<f32> {
        let mut params = vec![0.0f32; self.param_count()];
        for l in 0..self.layers() {
            let (fan_in, fan_out) = self.layer_shape(l);
            let hidden = l + 1 < self.layers();
            let limit = if hidden && self.activation == Activation::Relu {
                (6.0 / fan_in as f64).sqrt()
            } else {
                (6.0 / (fan_in + fan_out) as f64).sqrt()
            };
            let w = self.weight_offset(l);
            for p in &mut params[w..w + fan_in * fan_out] {
                *p = ((rng.next_f64() * 2.0 - 1.0) * limit) as f32;
            }
        }
        params
    }
}

/// FLOPs of one training step on `batch` examples: forward `2·in·out` per layer
/// and example, the weight gradient the same, the input gradient the same except
/// for the first layer (the input needs no gradient). Elementwise work is left out.
pub fn train_flops(arch: &Architecture, batch: usize) -> f64 {
    (0..arch.layers())
        .map(|l| {
            let (i, o) = arch.layer_shape(l);
            let mm = 2.0 * (i * o * batch) as f64;
            if l == 0 {
                2.0 * mm
            } else {
                3.0 * mm
            }
        })
        .sum()
}

/// A rows×cols row-major matrix as cols×rows: a weight matrix between the flat
/// layout (in×out) and PyTorch's (`nn.Linear.weight`, out×in), both ways.
pub fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; m.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = m[i * cols + j];
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_contiguous_weights_then_bias() {
        let a = Architecture::new(3, &[4], 2, Activation::Sigmoid, Loss::CrossEntropy).unwrap();
        assert_eq!(a.weight_offset(0), 0);
        assert_eq!(a.bias_offset(0), 12);
        assert_eq!(a.weight_offset(1), 16);
        assert_eq!(a.bias_offset(1), 24);
        assert_eq!(a.param_count(), 26);
    }

    #[test]
    fn init_is_seeded_bounded_and_biases_are_zero() {
        let a =
            Architecture::new(784, &[128], 10, Activation::Sigmoid, Loss::CrossEntropy).unwrap();
        let p1 = a.init_params(&mut Rng::new(0));
        let p2 = a.init_params(&mut Rng::new(0));
        let p3 = a.init_params(&mut Rng::new(1));
        assert_eq!(p1, p2);
        assert_ne!(p1, p3);
        let limit = (6.0f32 / (784.0 + 128.0)).sqrt();
        assert!(p1[..784 * 128].iter().all(|w| w.abs() <= limit));
        assert!(p1[a.bias_offset(0)..a.weight_offset(1)]
            .iter()
            .all(|&b| b == 0.0));
    }

    #[test]
    fn rejects_zero_width_hidden_layer() {
        assert!(Architecture::new(784, &[0], 10, Activation::Relu, Loss::SoftmaxMse).is_err());
    }
}
