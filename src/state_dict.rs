//! Reading a plain PyTorch state dict saved as safetensors (`nn.Sequential` of
//! `nn.Linear` layers, `safetensors.torch.save_file(model.state_dict(), …)`): a file
//! with tensors but no gpu-mlp metadata. The layer sizes come from the tensor
//! shapes; the activation, which a state dict does not record, from the caller.

use std::io::Read;
use std::path::Path;

use safetensors::tensor::SafeTensors;

use crate::backend::DEFAULT_BATCH_SIZE;
use crate::checkpoint::{check_state, read_flat_named, Checkpoint, RunSettings, TrainingState};
use crate::error::{Error, Result};
use crate::files::{open_regular, read_bounded};
use crate::network::{Activation, Architecture, Loss};
use crate::optimizer::{Optimizer, OptimizerKind, OptimizerState};
use crate::rng::Rng;
use crate::schedule::LrSchedule;

/// Whether `path` is a safetensors file without gpu-mlp metadata (a state dict;
/// PyTorch's `save_file` writes only `format: pt`);
/// false for gpu-mlp checkpoints and for anything unreadable, which
/// `Checkpoint::load` then reports.
/// Reads the header only (its length word, then at most `MAX_HEADER` bytes of JSON).
pub fn is_state_dict(path: &Path) -> bool {
    let header = || -> Option<serde_json::Value> {
        let (mut file, len) = open_regular(path).ok()?;
        let mut word = [0u8; 8];
        file.read_exact(&mut word).ok()?;
        let n = u64::from_le_bytes(word);
        if n > MAX_HEADER || n.checked_add(8)? > len {
            return None;
        }
        let mut json = Vec::new();
        file.take(n).read_to_end(&mut json).ok()?;
        serde_json::from_slice(&json).ok()
    };
    let Some(header) = header() else {
        return false;
    };
    let format = header.get("__metadata__").and_then(|m| m.get("format"));
    !format
        .and_then(|f| f.as_str())
        .is_some_and(|f| f.starts_with("gpu-mlp/"))
}

/// The largest safetensors header looked at (the format's own limit).
const MAX_HEADER: u64 = 100_000_000;

/// A network from a state dict's `*.weight` / `*.bias` pairs, ordered by the
/// numbers in their names (`0.weight`, `2.weight`, … or `layers.0.weight`, …),
/// each layer's input the previous one's output. Images are taken as square where
/// the input width is a square (784 → 28×28), else as one row.
pub fn load_state_dict(path: &Path, activation: Activation) -> Result<Checkpoint> {
    let bad = |problem: String| Error::data(path, problem);
    let bytes = read_bounded(path, crate::checkpoint::MAX_CHECKPOINT_BYTES)?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let prefixes = layer_prefixes(&st.names().iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .map_err(bad)?;
    let sizes = layer_sizes(&st, &prefixes).map_err(bad)?;
    let (inputs, classes) = (sizes[0], sizes[sizes.len() - 1]);
    let arch = Architecture::new(
        inputs,
        &sizes[1..sizes.len() - 1],
        classes,
        activation,
        Loss::CrossEntropy,
    )
    .map_err(|e| bad(e.to_string()))?;
    let params = read_flat_named(path, &st, &arch, |l, suffix| {
        format!("{}.{suffix}", prefixes[l])
    })?;
    let opt = Optimizer::new(OptimizerKind::Sgd, None, 0.0);
    let state = OptimizerState::new(opt.kind, params.len());
    check_state(path, &params, &state)?;
    let state = TrainingState {
        params,
        optimizer: state,
        epochs_trained: 0,
        rng_state: Rng::new(0).state(),
        history: Vec::new(),
        progress: None,
        best_model: None,
        best: Default::default(),
    };
    let settings = untrained_settings(arch, opt);
    Ok(Checkpoint { settings, state })
}

/// The layer sizes the `{prefix}.weight` tensors chain: [in, hidden…, out].
fn layer_sizes(st: &SafeTensors, prefixes: &[String]) -> std::result::Result<Vec<usize>, String> {
    let mut sizes = Vec::with_capacity(prefixes.len() + 1);
    for p in prefixes {
        let name = format!("{p}.weight");
        let t = st.tensor(&name).map_err(|e| format!("{name}: {e}"))?;
        let &[out, inp] = t.shape() else {
            return Err(format!(
                "{name} has shape {:?}; a Linear weight is [out, in]",
                t.shape()
            ));
        };
        match sizes.last() {
            None => sizes.extend([inp, out]),
            Some(&prev) if prev == inp => sizes.push(out),
            Some(&prev) => {
                return Err(format!(
                    "{name} takes {inp} inputs, but the layer before gives {prev}"
                ))
            }
        }
    }
    Ok(sizes)
}

/// What a state dict does not say, as gpu-mlp assumes it: gray square images
/// where the input count is a square (else a row of features), bytes ÷ 255.
fn untrained_settings(arch: Architecture, opt: Optimizer) -> RunSettings {
    let inputs = arch.inputs();
    let side = (inputs as f64).sqrt().round() as usize;
    let (rows, cols) = match side * side == inputs {
        true => (side, side),
        false => (1, inputs),
    };
    RunSettings {
        arch,
        opt,
        schedule: LrSchedule::constant(opt.lr),
        seed: 0,
        batch_size: DEFAULT_BATCH_SIZE,
        rows,
        cols,
        channels: 1,
        layout: crate::data::Layout::Planes,
        input: crate::data::normalize::InputTransform::unit_bytes(inputs),
        class_names: None,
        class_weight: None,
        val_split: None,
        early_stopping: None,
        source: None,
    }
}

/// The layers' name prefixes in order. Every tensor must be a `.weight` or `.bias`
/// with a partner; the order is by the numbers in the prefix, compared as numbers.
fn layer_prefixes(names: &[String]) -> std::result::Result<Vec<String>, String> {
    let mut prefixes = Vec::new();
    for name in names {
        let (prefix, suffix) = name.rsplit_once('.').unwrap_or(("", name));
        match suffix {
            "weight" | "bias" => {}
            _ => {
                return Err(format!(
                    "tensor {name} is not a Linear layer's weight or bias"
                ))
            }
        }
        let partner = if suffix == "weight" { "bias" } else { "weight" };
        if !names.contains(&format!("{prefix}.{partner}")) {
            return Err(format!("tensor {name} has no {prefix}.{partner}"));
        }
        if suffix == "weight" {
            prefixes.push(prefix.to_string());
        }
    }
    if prefixes.is_empty() {
        return Err("no tensors: an empty state dict".into());
    }
    let key = |p: &String| -> Vec<(u64, String)> {
        p.split('.')
            .map(|part| match part.parse::<u64>() {
                Ok(n) => (n, String::new()),
                Err(_) => (u64::MAX, part.to_string()),
            })
            .collect()
    };
    prefixes.sort_by_key(key);
    // Two prefixes with the same key ("1" and "01") have no order: the file would
    // be read one way in one process and another way in the next.
    if let Some(pair) = prefixes.windows(2).find(|w| key(&w[0]) == key(&w[1])) {
        return Err(format!(
            "layers {} and {} have the same number: their order is ambiguous",
            pair[0].escape_debug(),
            pair[1].escape_debug()
        ));
    }
    Ok(prefixes)
}
