//! `gpu-mlp export`: a checkpoint as an ONNX model.

use std::path::PathBuf;

use clap::Args;

use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::export::{export, OPSET};
use gpu_mlp::files::Output;
use gpu_mlp::Error;

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// The checkpoint to export (written by `gpu-mlp train --save`).
    #[arg(long, value_name = "FILE")]
    pub(crate) model: PathBuf,
    /// The ONNX file to write.
    #[arg(long, value_name = "FILE")]
    pub(crate) onnx: PathBuf,
}

pub(crate) fn run_export(args: ExportArgs) -> Result<(), Error> {
    let model = Checkpoint::load(&args.model)?;
    let out = Output::prepare(&args.onnx, "--onnx")?;
    export(&model, &out.path)?;
    let arch = &model.arch;
    say!(
        "wrote {} (ONNX opset {OPSET}): input float32 [batch, {}] of raw pixel values, \
         outputs logits and probabilities [batch, {}]",
        out.path.display(),
        arch.inputs(),
        arch.classes()
    );
    Ok(())
}
