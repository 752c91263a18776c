//! gpu-mlp in a browser tab: the library's `Trainer` behind a small JavaScript
//! API (wasm-bindgen), on WebGPU where the browser has it and on the CPU path as
//! WebAssembly otherwise. The page (`web/www/`) calls it; the checkpoints it
//! trades are the command line's safetensors files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::data::{self, Dataset};
use gpu_mlp::gpu::context::BackendChoice;
use gpu_mlp::network::Activation;
use gpu_mlp::optimizer::{Optimizer, OptimizerKind};
use gpu_mlp::report::EpochReport;
use gpu_mlp::trainer::{RunInfo, RunObserver};
use gpu_mlp::{Device, Model, Trainer};
use wasm_bindgen::prelude::*;

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// A data set and, once trained or loaded, a model.
#[wasm_bindgen]
pub struct Session {
    data: Option<Arc<Dataset>>,
    model: Option<Model>,
    /// What the last run trained on: "webgpu (adapter …)" or "cpu …".
    backend: String,
}

#[wasm_bindgen]
impl Session {
    /// An empty session.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Session {
        Session {
            data: None,
            model: None,
            backend: String::new(),
        }
    }

    /// Reads the four IDX files (raw or gzip) of an MNIST-format data set.
    pub fn load_idx(
        &mut self,
        train_images: Vec<u8>,
        train_labels: Vec<u8>,
        test_images: Vec<u8>,
        test_labels: Vec<u8>,
    ) -> Result<String, JsError> {
        let name = |n: &str| PathBuf::from(n);
        let files = [
            (name("train-images"), train_images),
            (name("train-labels"), train_labels),
            (name("t10k-images"), test_images),
            (name("t10k-labels"), test_labels),
        ];
        self.set_data(data::idx::load_bytes(files).map_err(js_error)?)
    }

    /// Reads a Keras-style `.npz` (x_train, y_train, x_test, y_test).
    pub fn load_npz(&mut self, name: &str, bytes: Vec<u8>) -> Result<String, JsError> {
        self.set_data(data::npz::load_bytes(Path::new(name), &bytes).map_err(js_error)?)
    }

    /// Keeps the first `train` training and `test` test examples (0: all).
    pub fn limit(&mut self, train: usize, test: usize) -> Result<String, JsError> {
        let data = self
            .data
            .as_ref()
            .ok_or_else(|| js_error("no data loaded"))?;
        let mut data = Dataset::clone(data);
        let (train, test) = ((train > 0).then_some(train), (test > 0).then_some(test));
        data::apply_limits(&mut data, train, test).map_err(js_error)?;
        self.set_data(data)
    }

    fn set_data(&mut self, data: Dataset) -> Result<String, JsError> {
        // The page draws, predicts and charts classes: value targets are the
        // command line's (gpu-mlp train --task regress|multilabel).
        if data.task != gpu_mlp::Task::Classify {
            return Err(js_error(format!(
                "{}: its targets are values ({}); this page trains classifiers (integer labels): \
                 train it with the command line, gpu-mlp train --data FILE",
                data.dir.display(),
                gpu_mlp::choice::Choice::name(data.task)
            )));
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

    /// Trains a network on the loaded data and keeps it. `settings` is JSON:
    /// `hidden` (list), `activation`, `optimizer`, `lr`, `batch_size`, `epochs`,
    /// `seed`, `backend` (`webgpu` or `cpu`). `on_epoch` is called with each
    /// epoch's figures as JSON. Returns the run's summary as JSON.
    pub async fn train(
        &mut self,
        settings: String,
        on_epoch: js_sys::Function,
    ) -> Result<String, JsError> {
        let data = self
            .data
            .clone()
            .ok_or_else(|| js_error("no data loaded"))?;
        let s: serde_json::Value = serde_json::from_str(&settings).map_err(js_error)?;
        let (trainer, backend) = trainer_from(&s)?;
        let mut observer = PageObserver {
            on_epoch,
            backend: String::new(),
            seconds: Vec::new(),
        };
        let model = trainer
            .fit_async(data, &mut observer)
            .await
            .map_err(js_error)?;
        let test = model
            .test()
            .cloned()
            .ok_or_else(|| js_error("the run ended without a test evaluation"))?;
        self.backend = observer.backend.clone();
        self.model = Some(model);
        let summary = serde_json::json!({
            "test_accuracy": test.accuracy.unwrap_or(f64::NAN),
            "test_loss": test.loss,
            "seconds": observer.seconds,
            "adapter": observer.backend,
            "backend": backend,
        });
        Ok(summary.to_string())
    }

    /// The trained (or loaded) model as a safetensors checkpoint, the file
    /// `gpu-mlp eval --model` reads.
    pub fn checkpoint(&self) -> Result<Vec<u8>, JsError> {
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| js_error("no model yet"))?;
        model
            .checkpoint()
            .to_bytes("model.safetensors")
            .map_err(js_error)
    }

    /// Loads a checkpoint written by `gpu-mlp train --save` (or by this page).
    pub fn load_checkpoint(&mut self, name: &str, bytes: Vec<u8>) -> Result<String, JsError> {
        let c = Checkpoint::from_bytes(&bytes, Path::new(name)).map_err(js_error)?;
        // The page shows a class's probabilities: a model of values is the command line's.
        let task = c.settings.arch.task();
        if !task.has_classes() {
            return Err(js_error(format!(
                "{name} is a {} model; this page predicts classes (gpu-mlp predict reads it)",
                gpu_mlp::choice::Choice::name(task)
            )));
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
    pub fn test_example(&self, i: usize) -> Result<Vec<u8>, JsError> {
        let data = self
            .data
            .as_ref()
            .ok_or_else(|| js_error("no data loaded"))?;
        if i >= data.test.len() {
            return Err(js_error(format!(
                "test example {i}: the test set has {}",
                data.test.len()
            )));
        }
        data.test
            .image(i)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| js_error("the test examples are not images"))
    }

    /// Class probabilities of one image (the model's size, bytes 0–255, light on dark).
    pub fn predict(&self, pixels: Vec<u8>) -> Result<Vec<f32>, JsError> {
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| js_error("no model yet"))?;
        let mut p = model.probabilities(&pixels).map_err(js_error)?;
        Ok(p.swap_remove(0))
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

/// The trainer the page's settings describe, and which backend it names. A
/// setting the page leaves out keeps `Trainer`'s default.
fn trainer_from(s: &serde_json::Value) -> Result<(Trainer, String), JsError> {
    let mut trainer = match s["hidden"].as_array() {
        Some(a) => {
            let hidden: Vec<usize> = a
                .iter()
                .filter_map(|v| v.as_u64())
                .map(|v| v as usize)
                .collect();
            Trainer::new(&hidden)
        }
        None => Trainer::default(),
    };
    if let Some(name) = s["activation"].as_str() {
        trainer = trainer.activation(parse::<Activation>(name)?);
    }
    let kind = s["optimizer"]
        .as_str()
        .map(parse::<OptimizerKind>)
        .transpose()?;
    let lr = s["lr"].as_f64().map(|v| v as f32);
    if kind.is_some() || lr.is_some() {
        // The optimizer's own default rate unless the page gives one.
        let kind = kind.unwrap_or(OptimizerKind::Sgd);
        trainer = trainer.optimizer(Optimizer::new(kind, lr, 0.9));
    }
    if let Some(n) = s["batch_size"].as_u64() {
        trainer = trainer.batch_size(n as usize);
    }
    if let Some(n) = s["epochs"].as_u64() {
        trainer = trainer.epochs(n as usize);
    }
    if let Some(n) = s["seed"].as_u64() {
        trainer = trainer.seed(n);
    }
    let backend = s["backend"].as_str().unwrap_or("webgpu").to_string();
    let device = match backend.as_str() {
        "cpu" => Device::Cpu,
        "webgpu" => Device::Gpu(BackendChoice::Auto, None),
        other => {
            return Err(js_error(format!(
                "backend {other:?}: expected webgpu or cpu"
            )))
        }
    };
    Ok((trainer.device(device), backend))
}

fn parse<T: gpu_mlp::choice::Choice>(name: &str) -> Result<T, JsError> {
    T::parse(name).map_err(js_error)
}

/// Hands each epoch's figures to the page.
struct PageObserver {
    on_epoch: js_sys::Function,
    backend: String,
    seconds: Vec<f64>,
}

impl RunObserver for PageObserver {
    fn started(&mut self, run: &RunInfo, _: &Dataset) -> gpu_mlp::Result<()> {
        self.backend = run.backend.clone();
        Ok(())
    }

    fn epoch_done(&mut self, r: &EpochReport, _: Option<&Checkpoint>) -> gpu_mlp::Result<()> {
        self.seconds.push(r.seconds.unwrap_or_default());
        let line = gpu_mlp::metrics::report_to_json(r).to_string();
        let _ = self
            .on_epoch
            .call1(&JsValue::NULL, &JsValue::from_str(&line));
        Ok(())
    }
}
