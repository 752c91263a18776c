//! `Net`: a trained model as Python holds it. It predicts (with the GIL
//! released), gives its parameters as NumPy arrays, and goes to and from the
//! checkpoint bytes `gpu-mlp train --save` writes, which is also how it pickles.

use std::path::{Path, PathBuf};

use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::choice::Choice;
use gpu_mlp::{Model, Split};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::{arrays, to_py};

/// A trained network: its checkpoint (architecture, parameters, optimizer state,
/// input transform, history).
#[pyclass(module = "gpu_mlp._core", frozen)]
pub(crate) struct Net {
    model: Model,
}

impl Net {
    pub(crate) fn new(model: Model) -> Net {
        Net { model }
    }

    pub(crate) fn checkpoint(&self) -> &Checkpoint {
        self.model.checkpoint()
    }
}

/// One layer's weights (inputs × outputs) and biases.
type LayerArrays<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray1<f32>>);

/// Names a checkpoint read from bytes in its error messages.
const FROM_BYTES: &str = "the model's bytes";

#[pymethods]
impl Net {
    /// Reads a checkpoint file (`gpu-mlp train --save`, `Net.save`).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Net> {
        py.detach(|| Model::load(&path))
            .map(Net::new)
            .map_err(to_py)
    }

    /// Reads the bytes of a checkpoint file.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Net> {
        py.detach(|| Checkpoint::from_bytes(data, Path::new(FROM_BYTES)))
            .map(|c| Net::new(Model::from(c)))
            .map_err(to_py)
    }

    /// The checkpoint file's bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py
            .detach(|| self.checkpoint().to_bytes(FROM_BYTES))
            .map_err(to_py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Writes the checkpoint file, atomically (a failed write leaves any earlier
    /// file as it was).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.model.save(&path)).map_err(to_py)
    }

    /// Writes the network as an ONNX model (`gpu-mlp export`).
    fn to_onnx(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| gpu_mlp::export::export(self.checkpoint(), &path))
            .map_err(to_py)
    }

    /// What the network answers for each row of `x` (float32 or uint8, as it was
    /// trained): class probabilities, each label's probability, or values in the
    /// targets' units; examples × outputs (2 columns for a binary model).
    fn answers<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (features, width) = arrays::features(x)?;
        let n = features.len() / width.max(1);
        let rows = py.detach(|| {
            let split = Split::from_features(features, width)?;
            gpu_mlp::eval::probabilities_of(self.checkpoint(), &split)
        });
        let rows = rows.map_err(to_py)?;
        let k = rows.first().map_or(0, Vec::len);
        let flat: Vec<f32> = rows.into_iter().flatten().collect();
        let a = Array2::from_shape_vec((n, k), flat).expect("one answer per row");
        Ok(a.into_pyarray(py))
    }

    /// The weights and biases of each layer, in scikit-learn's layout: weights
    /// inputs × outputs, biases outputs.
    fn parameters<'py>(&self, py: Python<'py>) -> Vec<LayerArrays<'py>> {
        let arch = &self.checkpoint().settings.arch;
        let params = &self.checkpoint().state.params;
        (0..arch.layers())
            .map(|l| {
                let layer = arch.layer(l);
                let w = params[layer.weight_range()].to_vec();
                let w = Array2::from_shape_vec((layer.inputs, layer.outputs), w)
                    .expect("a layer's weights are inputs × outputs");
                let b = params[layer.bias_range()].to_vec();
                (w.into_pyarray(py), b.into_pyarray(py))
            })
            .collect()
    }

    /// The task: "classify", "binary", "multilabel" or "regress".
    #[getter]
    fn task(&self) -> &'static str {
        self.checkpoint().settings.arch.task().name()
    }

    /// Features per example.
    #[getter]
    fn inputs(&self) -> usize {
        self.checkpoint().settings.arch.inputs()
    }

    /// The network's outputs (1 for a binary model).
    #[getter]
    fn outputs(&self) -> usize {
        self.checkpoint().settings.arch.outputs()
    }

    /// The features' element type it was trained on: "float32" or "uint8".
    #[getter]
    fn dtype(&self) -> &'static str {
        match self.checkpoint().settings.input.dtype {
            gpu_mlp::data::Dtype::U8 => "uint8",
            gpu_mlp::data::Dtype::F32 => "float32",
        }
    }

    /// The hidden layers' widths.
    #[getter]
    fn hidden(&self) -> Vec<usize> {
        let sizes = &self.checkpoint().settings.arch.sizes;
        sizes[1..sizes.len() - 1].to_vec()
    }

    /// The hidden layers' activation: "sigmoid", "tanh" or "relu".
    #[getter]
    fn activation(&self) -> &'static str {
        self.checkpoint().settings.arch.activation.name()
    }

    /// The decision threshold of a binary or multilabel model.
    #[getter]
    fn threshold(&self) -> f32 {
        self.checkpoint().settings.arch.head.threshold
    }

    /// Epochs trained.
    #[getter]
    fn epochs_trained(&self) -> usize {
        self.checkpoint().state.epochs_trained
    }

    /// Each epoch's mean training loss, as the checkpoint records it.
    #[getter]
    fn loss_curve(&self) -> Vec<f64> {
        self.model.history().iter().map(|r| r.train_loss).collect()
    }

    /// The class (label, target) names the checkpoint holds.
    #[getter]
    fn class_names(&self) -> Option<Vec<String>> {
        self.model.class_names().map(<[String]>::to_vec)
    }

    fn __repr__(&self) -> String {
        let arch = &self.checkpoint().settings.arch;
        let sizes: Vec<String> = arch.sizes.iter().map(usize::to_string).collect();
        format!(
            "Net({} {}, {} epochs)",
            arch.task().name(),
            sizes.join("-"),
            self.epochs_trained()
        )
    }
}
