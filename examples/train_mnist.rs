//! Trains a 784-128-10 network on MNIST-format data and saves it.
//!
//! ```text
//! cargo run --release --example train_mnist -- [DATA_DIR] [--cpu | --gpu] [--epochs N] [--limit N] [--save FILE]
//! ```
//!
//! DATA_DIR defaults to Debian's Fashion-MNIST (`make deps` installs it). `--limit`
//! keeps the first N training and test examples, for a quick run. The device is a
//! hardware GPU when there is one, else the CPU; `--gpu` insists on a GPU, software
//! adapters (lavapipe) included.

use gpu_mlp::gpu::context::BackendChoice;
use gpu_mlp::{data, Activation, Device, Optimizer, OptimizerKind, Trainer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut dir = String::from("/usr/share/datasets/fashion-mnist");
    let (mut device, mut epochs, mut limit, mut save) = (Device::Auto, 3, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--cpu" => device = Device::Cpu,
            "--gpu" => device = Device::Gpu(BackendChoice::Auto, None),
            "--epochs" => epochs = value()?.parse()?,
            "--limit" => limit = Some(value()?.parse()?),
            "--save" => save = Some(value()?),
            _ if !arg.starts_with("--") => dir = arg,
            _ => return Err(format!("unknown flag {arg}").into()),
        }
    }

    let mut data = data::load_dir(dir.as_ref(), 10)?;
    data::apply_limits(&mut data, limit, limit)?;
    let device = device.resolve();
    println!("training on {device:?}: {} examples", data.train.len());

    let model = Trainer::new(&[128])
        .activation(Activation::Relu)
        .optimizer(Optimizer::new(OptimizerKind::Adam, Some(1e-3), 0.0))
        .epochs(epochs)
        .device(device)
        .fit(data)?;
    for r in model.history() {
        println!(
            "epoch {}  train loss {:.4}  test accuracy {:.2}%",
            r.epoch,
            r.train_loss,
            100.0 * r.test_accuracy.unwrap_or(f64::NAN)
        );
    }
    if let Some(path) = save {
        model.save(path.as_ref())?;
        println!("saved {path}");
    }
    Ok(())
}
