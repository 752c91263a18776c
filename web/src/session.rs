//! What the page's `Session` does, in plain Rust: the loaded data and the model,
//! every failure an error message and never a panic (a panic traps the module and
//! leaves the JavaScript object borrowed for good, losing a trained model).
//! Natively testable: `web/tests/session.rs` fuzzes it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::data::{self, Dataset};
use gpu_mlp::{Model, Task};

/// A data set and, once trained or loaded, a model.
#[derive(Default)]
pub struct SessionCore {
    data: Option<Arc<Dataset>>,
    model: Option<Model>,
}

impl SessionCore {
    /// The loaded data set.
    pub fn data(&self) -> Option<Arc<Dataset>> {
        self.data.clone()
    }

    /// Keeps `model` (one the page trained).
    pub fn set_model(&mut self, model: Model) {
        self.model = Some(model);
    }

    /// Reads the four IDX files (raw or gzip) of an MNIST-format data set: train
    /// images, train labels, test images, test labels.
    pub fn load_idx(&mut self, files: [Vec<u8>; 4]) -> Result<String, String> {
        let [train_images, train_labels, test_images, test_labels] = files;
        let name = |n: &str| PathBuf::from(n);
        let files = [
            (name("train-images"), train_images),
            (name("train-labels"), train_labels),
            (name("t10k-images"), test_images),
            (name("t10k-labels"), test_labels),
        ];
        self.set_data(data::idx::load_bytes(files).map_err(text)?)
    }

    /// Reads a Keras-style `.npz` (x_train, y_train, x_test, y_test).
    pub fn load_npz(&mut self, name: &str, bytes: &[u8]) -> Result<String, String> {
        self.set_data(data::npz::load_bytes(Path::new(name), bytes).map_err(text)?)
    }

    /// Keeps the first `train` training and `test` test examples (0: all).
    pub fn limit(&mut self, train: usize, test: usize) -> Result<String, String> {
        let data = self.data.as_ref().ok_or("no data loaded")?;
        let mut data = Dataset::clone(data);
        let (train, test) = ((train > 0).then_some(train), (test > 0).then_some(test));
        data::apply_limits(&mut data, train, test).map_err(text)?;
        self.set_data(data)
    }

    /// Keeps `data` and describes it as JSON; only classification data (the page
    /// draws, predicts and charts classes).
    fn set_data(&mut self, data: Dataset) -> Result<String, String> {
        if data.task != Task::Classify {
            return Err(format!(
                "{}: its targets are values ({}); this page trains classifiers (integer labels): \
                 train it with the command line, gpu-mlp train --data FILE",
                data.dir.display(),
                gpu_mlp::choice::Choice::name(data.task)
            ));
        }
        let summary = serde_json::json!({
            "train": data.train.len(),
            "test": data.test.len(),
            "rows": data.rows,
            "cols": data.cols,
            "channels": data.channels,
            "classes": data.classes,
            "class_names": data.class_names,
        });
        self.data = Some(Arc::new(data));
        Ok(summary.to_string())
    }

    /// The trained (or loaded) model as a safetensors checkpoint.
    pub fn checkpoint(&self) -> Result<Vec<u8>, String> {
        let model = self.model.as_ref().ok_or("no model yet")?;
        model
            .checkpoint()
            .to_bytes("model.safetensors")
            .map_err(text)
    }

    /// Loads a checkpoint written by `gpu-mlp train --save` (or by this page); a
    /// model of values is the command line's (the page shows class probabilities).
    pub fn load_checkpoint(&mut self, name: &str, bytes: &[u8]) -> Result<String, String> {
        let c = Checkpoint::from_bytes(bytes, Path::new(name)).map_err(text)?;
        let task = c.settings.arch.task();
        if !task.has_classes() {
            return Err(format!(
                "{name} is a {} model; this page predicts classes (gpu-mlp predict reads it)",
                gpu_mlp::choice::Choice::name(task)
            ));
        }
        let summary = serde_json::json!({
            "layers": c.settings.arch.shape_string(),
            "rows": c.settings.rows,
            "cols": c.settings.cols,
            "class_names": c.settings.class_names,
        });
        self.model = Some(Model::from(c));
        Ok(summary.to_string())
    }

    /// The pixels of test example `i` of the loaded data (bytes, row-major).
    pub fn test_example(&self, i: usize) -> Result<Vec<u8>, String> {
        let data = self.data.as_ref().ok_or("no data loaded")?;
        if i >= data.test.len() {
            return Err(format!(
                "test example {i}: the test set has {}",
                data.test.len()
            ));
        }
        data.test
            .image(i)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| "the test examples are not images".to_string())
    }

    /// Class probabilities of one image (the model's size, bytes 0–255).
    pub fn predict(&self, pixels: &[u8]) -> Result<Vec<f32>, String> {
        let model = self.model.as_ref().ok_or("no model yet")?;
        let mut p = model.probabilities(pixels).map_err(text)?;
        Ok(p.swap_remove(0))
    }
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}
