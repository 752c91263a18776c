//! `gpu-mlp export`: a checkpoint as an ONNX model.

use std::path::PathBuf;

use clap::Args;

use gpu_mlp::export::{export, OPSET};
use gpu_mlp::files::Output;
use gpu_mlp::Error;

#[derive(Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub(crate) model: super::paths::ModelArgs,
    /// The ONNX file to write.
    #[arg(long, value_name = "FILE")]
    pub(crate) onnx: PathBuf,
}

pub(crate) fn run_export(args: ExportArgs) -> Result<(), Error> {
    let model = args.model.load()?;
    if gpu_mlp::files::same_file(&args.onnx, &args.model.path) {
        return Err(Error::Usage(format!(
            "--onnx {} is the --model input: writing it would destroy it; name another file",
            args.onnx.display()
        )));
    }
    let out = Output::prepare(&args.onnx, "--onnx")?;
    export(&model, &out.path)?;
    let arch = &model.settings.arch;
    let values = match model.settings.input.dtype {
        gpu_mlp::data::Dtype::U8 => "raw pixel values",
        gpu_mlp::data::Dtype::F32 => "raw feature values",
    };
    say!(
        "wrote {} (ONNX opset {OPSET}): input float32 [batch, {}] of {values} \
         (normalized inside the graph), outputs logits and {} [batch, {}]",
        out.path.display(),
        arch.inputs(),
        match arch.task() {
            gpu_mlp::task::Task::Regress => "predictions in the targets' units",
            _ => "probabilities",
        },
        arch.outputs()
    );
    Ok(())
}
