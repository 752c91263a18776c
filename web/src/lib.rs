//! gpu-mlp in a browser tab: the library's `Trainer` behind a small JavaScript
//! API (wasm-bindgen), on WebGPU where the browser has it and on the CPU path as
//! WebAssembly otherwise. The page (`web/www/`) calls it; the checkpoints it
//! trades are the command line's safetensors files.

use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::data::Dataset;
use gpu_mlp::gpu::context::BackendChoice;
use gpu_mlp::network::Activation;
use gpu_mlp::optimizer::{Optimizer, OptimizerKind};
use gpu_mlp::report::EpochReport;
use gpu_mlp::trainer::{RunInfo, RunObserver};
use gpu_mlp::{Device, Trainer};
use wasm_bindgen::prelude::*;

mod session;
pub use session::SessionCore;

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// The page's session: [`SessionCore`] behind JavaScript, each error a `JsError`.
#[wasm_bindgen]
#[derive(Default)]
pub struct Session {
    core: SessionCore,
}

#[wasm_bindgen]
impl Session {
    /// An empty session.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Session {
        Session::default()
    }

    /// Reads the four IDX files (raw or gzip) of an MNIST-format data set.
    pub fn load_idx(
        &mut self,
        train_images: Vec<u8>,
        train_labels: Vec<u8>,
        test_images: Vec<u8>,
        test_labels: Vec<u8>,
    ) -> Result<String, JsError> {
        let files = [train_images, train_labels, test_images, test_labels];
        self.core.load_idx(files).map_err(js_error)
    }

    /// Reads a Keras-style `.npz` (x_train, y_train, x_test, y_test).
    pub fn load_npz(&mut self, name: &str, bytes: Vec<u8>) -> Result<String, JsError> {
        self.core.load_npz(name, &bytes).map_err(js_error)
    }

    /// Keeps the first `train` training and `test` test examples (0: all).
    pub fn limit(&mut self, train: usize, test: usize) -> Result<String, JsError> {
        self.core.limit(train, test).map_err(js_error)
    }

    /// Trains a network on the loaded data and keeps it. `settings` is JSON:
    /// `hidden` (list), `activation`, `optimizer`, `lr`, `batch_size`, `epochs`,
    /// `seed`, `backend` (`webgpu` or `cpu`). `on_epoch(figures, checkpoint)` is
    /// called after each epoch with its figures as JSON and its model as a
    /// safetensors file; `on_batch(epoch, done, total)`, at most every 100 ms within
    /// an epoch, returns whether to go on (false: the run stops after that step and
    /// keeps its model, as an interrupt does). Returns the run's summary as JSON
    /// (`stopped`: true where `on_batch` ended it; test figures are then null).
    pub async fn train(
        &mut self,
        settings: String,
        on_epoch: js_sys::Function,
        on_batch: Option<js_sys::Function>,
    ) -> Result<String, JsError> {
        let data = self.core.data().ok_or_else(|| js_error("no data loaded"))?;
        let s: serde_json::Value = serde_json::from_str(&settings).map_err(js_error)?;
        let (trainer, backend) = trainer_from(&s)?;
        let mut observer = PageObserver {
            on_epoch,
            on_batch,
            last_batch_call: 0.0,
            backend: String::new(),
            seconds: Vec::new(),
        };
        let model = trainer
            .fit_async(data, &mut observer)
            .await
            .map_err(js_error)?;
        let stopped = model.interrupted();
        let test = model.test().cloned();
        if test.is_none() && !stopped {
            return Err(js_error("the run ended without a test evaluation"));
        }
        self.core.set_model(model);
        let summary = serde_json::json!({
            "stopped": stopped,
            "test_accuracy": test.as_ref().and_then(|t| t.accuracy),
            "test_loss": test.as_ref().map(|t| t.loss),
            "seconds": observer.seconds,
            "adapter": observer.backend,
            "backend": backend,
        });
        Ok(summary.to_string())
    }

    /// The trained (or loaded) model as a safetensors checkpoint, the file
    /// `gpu-mlp eval --model` reads.
    pub fn checkpoint(&self) -> Result<Vec<u8>, JsError> {
        self.core.checkpoint().map_err(js_error)
    }

    /// Loads a checkpoint written by `gpu-mlp train --save` (or by this page).
    pub fn load_checkpoint(&mut self, name: &str, bytes: Vec<u8>) -> Result<String, JsError> {
        self.core.load_checkpoint(name, &bytes).map_err(js_error)
    }

    /// The pixels of test example `i` of the loaded data (bytes, row-major).
    pub fn test_example(&self, i: usize) -> Result<Vec<u8>, JsError> {
        self.core.test_example(i).map_err(js_error)
    }

    /// Class probabilities of one image (the model's size, bytes 0–255, light on dark).
    pub fn predict(&self, pixels: Vec<u8>) -> Result<Vec<f32>, JsError> {
        self.core.predict(&pixels).map_err(js_error)
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

/// Hands each epoch's figures and model to the page, and asks it within epochs
/// whether to go on.
struct PageObserver {
    on_epoch: js_sys::Function,
    on_batch: Option<js_sys::Function>,
    /// When `on_batch` was last called (ms since the epoch, `Date.now()`).
    last_batch_call: f64,
    backend: String,
    seconds: Vec<f64>,
}

/// The least time between two `on_batch` calls: progress a page can show, at a
/// cost the step never notices.
const BATCH_CALL_MS: f64 = 100.0;

impl RunObserver for PageObserver {
    fn started(&mut self, run: &RunInfo, _: &Dataset) -> gpu_mlp::Result<()> {
        self.backend = run.backend.clone();
        Ok(())
    }

    fn batch_done(&mut self, epoch: usize, done: usize, total: usize, _: Option<f64>) -> bool {
        let Some(f) = &self.on_batch else {
            return true;
        };
        let now = js_sys::Date::now();
        if now - self.last_batch_call < BATCH_CALL_MS && done < total {
            return true;
        }
        self.last_batch_call = now;
        let args = [epoch, done, total].map(|n| JsValue::from_f64(n as f64));
        let go_on = f.call3(&JsValue::NULL, &args[0], &args[1], &args[2]);
        // Only an explicit false stops: a callback that fails or returns nothing
        // never costs the run.
        go_on.map_or(true, |v| v.as_bool() != Some(false))
    }

    fn wants_checkpoint(&self, _: &EpochReport) -> bool {
        true
    }

    fn epoch_done(&mut self, r: &EpochReport, c: Option<&Checkpoint>) -> gpu_mlp::Result<()> {
        self.seconds.push(r.seconds.unwrap_or_default());
        let line = gpu_mlp::metrics::report_to_json(r).to_string();
        // The epoch's model, so the page can predict with it and keep it should the
        // run be cut off.
        let model = match c.map(|c| c.to_bytes("model.safetensors")) {
            Some(Ok(bytes)) => js_sys::Uint8Array::from(&bytes[..]).into(),
            _ => JsValue::NULL,
        };
        let _ = self
            .on_epoch
            .call2(&JsValue::NULL, &JsValue::from_str(&line), &model);
        Ok(())
    }
}
