//! Checkpoints in the safetensors format: the trained network under PyTorch's
//! names and layout, the optimizer state and the RNG position, so that training
//! can continue exactly where it stopped.
//!
//! Tensors (all F32, little-endian):
//! * `layers.{l}.weight` — shape [out, in], as `torch.nn.Linear` stores it (our
//!   internal W is in×out; the file holds its transpose);
//! * `layers.{l}.bias` — shape [out];
//! * `optimizer.m.layers.{l}.weight|bias`, `optimizer.v.…` — momentum's velocity
//!   (m) and Adam's moments (m, v), same names and shapes, only where the optimizer
//!   has them.
//!
//! String metadata: `format` (`gpu-mlp/1`), `layers` (`784,128,10`), `activation`,
//! `loss`, `optimizer`, `lr`, `momentum`, `beta1`, `beta2`, `eps`, `epochs_trained`,
//! `optimizer_steps`, `seed`, `rng_state` (four hex words), `batch_size`,
//! `image_rows`, `image_cols`, `gpu_mlp_version`, and `class_names` (one per line)
//! where the data set is known.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::files::write_atomically;
use crate::model::{Activation, Architecture, Loss};
use crate::optimizer::{Optimizer, OptimizerKind, OptimizerState};

pub const FORMAT: &str = "gpu-mlp/1";

/// Everything needed to evaluate a network or to continue training it.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub arch: Architecture,
    pub opt: Optimizer,
    /// Parameters in `Architecture`'s internal flat layout.
    pub params: Vec<f32>,
    pub state: OptimizerState<f32>,
    pub epochs_trained: usize,
    pub seed: u64,
    /// The shuffling RNG after the last trained epoch.
    pub rng_state: [u64; 4],
    pub batch_size: usize,
    pub image_rows: usize,
    pub image_cols: usize,
    /// Names of the classes, where the data set is known (Fashion-MNIST).
    pub class_names: Option<Vec<String>>,
}

/// Fashion-MNIST's ten classes, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Class names for a data directory, when its name says which data set it is.
pub fn class_names_for(dir: &Path, classes: usize) -> Option<Vec<String>> {
    let name = dir.to_string_lossy().to_lowercase();
    (name.contains("fashion") && classes == 10).then(|| {
        FASHION_MNIST_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect()
    })
}

/// Splits a flat internal array into named tensors: weights transposed to [out, in].
fn to_tensors(
    arch: &Architecture,
    flat: &[f32],
    prefix: &str,
) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let mut out = Vec::new();
    for l in 0..arch.layers() {
        let (fan_in, fan_out) = arch.layer_shape(l);
        let w = &flat[arch.weight_offset(l)..arch.bias_offset(l)];
        let mut wt = vec![0.0f32; w.len()];
        for i in 0..fan_in {
            for j in 0..fan_out {
                wt[j * fan_in + i] = w[i * fan_out + j];
            }
        }
        let b = &flat[arch.bias_offset(l)..arch.bias_offset(l) + fan_out];
        out.push((
            format!("{prefix}layers.{l}.weight"),
            vec![fan_out, fan_in],
            bytemuck::cast_slice(&wt).to_vec(),
        ));
        out.push((
            format!("{prefix}layers.{l}.bias"),
            vec![fan_out],
            bytemuck::cast_slice(b).to_vec(),
        ));
    }
    out
}

impl Checkpoint {
    /// Writes the checkpoint atomically: a kill at any moment leaves either the
    /// previous file or this one, never a torn one.
    pub fn save(&self, path: &Path) -> Result<()> {
        let arch = &self.arch;
        let mut tensors = to_tensors(arch, &self.params, "");
        if !self.state.m.is_empty() {
            tensors.extend(to_tensors(arch, &self.state.m, "optimizer.m."));
        }
        if !self.state.v.is_empty() {
            tensors.extend(to_tensors(arch, &self.state.v, "optimizer.v."));
        }
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(name, shape, bytes)| {
                let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .expect("shape matches the data");
                (name.clone(), view)
            })
            .collect();
        let o = &self.opt;
        let s = self.rng_state;
        let meta: HashMap<String, String> = [
            ("format", FORMAT.to_string()),
            (
                "layers",
                arch.sizes
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("activation", arch.activation.name().into()),
            ("loss", arch.loss.name().into()),
            ("optimizer", o.kind.name().into()),
            ("lr", o.lr.to_string()),
            ("momentum", o.momentum.to_string()),
            ("beta1", o.beta1.to_string()),
            ("beta2", o.beta2.to_string()),
            ("eps", o.eps.to_string()),
            ("epochs_trained", self.epochs_trained.to_string()),
            ("optimizer_steps", self.state.t.to_string()),
            ("seed", self.seed.to_string()),
            (
                "rng_state",
                format!("{:016x},{:016x},{:016x},{:016x}", s[0], s[1], s[2], s[3]),
            ),
            ("batch_size", self.batch_size.to_string()),
            ("image_rows", self.image_rows.to_string()),
            ("image_cols", self.image_cols.to_string()),
            ("gpu_mlp_version", env!("CARGO_PKG_VERSION").into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .chain(
            self.class_names
                .as_ref()
                .map(|n| ("class_names".to_string(), n.join("\n"))),
        )
        .collect();
        let bytes = safetensors::serialize(views, Some(meta))
            .map_err(|e| Error::output(path, format!("cannot encode the checkpoint: {e}")))?;
        write_atomically(path, &bytes)
    }

    /// Reads and validates a checkpoint: format, metadata, tensor names, dtypes and
    /// shapes. Any problem is an error naming the file, never a panic.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |problem: String| Error::data(path, problem);
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let meta = header.metadata().clone().ok_or_else(|| {
            bad("no gpu-mlp metadata (was it written by gpu-mlp train --save?)".into())
        })?;
        let get = |key: &str| -> Result<&str> {
            meta.get(key)
                .map(String::as_str)
                .ok_or_else(|| bad(format!("metadata has no {key:?}")))
        };
        fn parse<T: std::str::FromStr>(path: &Path, key: &str, v: &str) -> Result<T> {
            v.parse()
                .map_err(|_| Error::data(path, format!("metadata {key}={v:?} is not valid")))
        }
        if get("format")? != FORMAT {
            return Err(bad(format!("format {:?} is not {FORMAT}", get("format")?)));
        }
        let sizes: Vec<usize> = get("layers")?
            .split(',')
            .map(|s| parse(path, "layers", s))
            .collect::<Result<_>>()?;
        if sizes.len() < 2 {
            return Err(bad(
                "metadata layers needs at least an input and an output size".into(),
            ));
        }
        fn choice<T: Choice>(path: &Path, key: &str, v: &str) -> Result<T> {
            T::from_name(v).ok_or_else(|| {
                Error::data(
                    path,
                    format!("metadata {key}={v:?} is not one of {:?}", T::names()),
                )
            })
        }
        let activation: Activation = choice(path, "activation", get("activation")?)?;
        let loss: Loss = choice(path, "loss", get("loss")?)?;
        let kind: OptimizerKind = choice(path, "optimizer", get("optimizer")?)?;
        let arch = Architecture::new(
            sizes[0],
            &sizes[1..sizes.len() - 1],
            sizes[sizes.len() - 1],
            activation,
            loss,
        )
        .map_err(|e| bad(format!("metadata layers: {e}")))?;
        let f = |key: &str| -> Result<f32> { parse(path, key, get(key)?) };
        let opt = Optimizer {
            kind,
            lr: f("lr")?,
            momentum: f("momentum")?,
            beta1: f("beta1")?,
            beta2: f("beta2")?,
            eps: f("eps")?,
        };
        opt.validate().map_err(|e| bad(format!("metadata: {e}")))?;
        let words: Vec<u64> = get("rng_state")?
            .split(',')
            .map(|w| {
                u64::from_str_radix(w, 16)
                    .map_err(|_| bad(format!("metadata rng_state word {w:?} is not hex")))
            })
            .collect::<Result<_>>()?;
        let rng_state: [u64; 4] = words
            .try_into()
            .map_err(|_| bad("metadata rng_state needs four words".into()))?;

        let read = |prefix: &str| -> Result<Vec<f32>> {
            let mut flat = vec![0.0f32; arch.param_count()];
            for l in 0..arch.layers() {
                let (fan_in, fan_out) = arch.layer_shape(l);
                for (suffix, shape) in [("weight", vec![fan_out, fan_in]), ("bias", vec![fan_out])]
                {
                    let name = format!("{prefix}layers.{l}.{suffix}");
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
                    let values: Vec<f32> = bytemuck::pod_collect_to_vec(t.data());
                    if suffix == "weight" {
                        let w = arch.weight_offset(l);
                        for i in 0..fan_in {
                            for j in 0..fan_out {
                                flat[w + i * fan_out + j] = values[j * fan_in + i];
                            }
                        }
                    } else {
                        let b = arch.bias_offset(l);
                        flat[b..b + fan_out].copy_from_slice(&values);
                    }
                }
            }
            Ok(flat)
        };
        let params = read("")?;
        let mut state = OptimizerState::new(opt.kind, params.len());
        if !state.m.is_empty() {
            state.m = read("optimizer.m.")?;
        }
        if !state.v.is_empty() {
            state.v = read("optimizer.v.")?;
        }
        state.t = parse(path, "optimizer_steps", get("optimizer_steps")?)?;
        let expected = 2
            * arch.layers()
            * (1 + usize::from(!state.m.is_empty()) + usize::from(!state.v.is_empty()));
        if st.len() != expected {
            let names = st.names();
            return Err(bad(format!(
                "{} tensors, expected {expected}: {names:?}",
                st.len()
            )));
        }
        if params.iter().any(|p| !p.is_finite()) {
            return Err(bad("the parameters contain NaN or infinity".into()));
        }
        let image_rows = parse(path, "image_rows", get("image_rows")?)?;
        let image_cols: usize = parse(path, "image_cols", get("image_cols")?)?;
        if image_rows * image_cols != arch.inputs() {
            return Err(bad(format!(
                "image size {image_rows}×{image_cols} does not match {} inputs",
                arch.inputs()
            )));
        }
        let class_names = match meta.get("class_names") {
            Some(names) => {
                let names: Vec<String> = names.split('\n').map(str::to_string).collect();
                if names.len() != arch.classes() {
                    return Err(bad(format!(
                        "{} class names for {} classes",
                        names.len(),
                        arch.classes()
                    )));
                }
                Some(names)
            }
            None => None,
        };
        Ok(Checkpoint {
            class_names,
            opt,
            params,
            state,
            epochs_trained: parse(path, "epochs_trained", get("epochs_trained")?)?,
            seed: parse(path, "seed", get("seed")?)?,
            rng_state,
            batch_size: parse(path, "batch_size", get("batch_size")?)?,
            image_rows,
            image_cols,
            arch,
        })
    }
}
