//! Trains on a data set built in memory instead of IDX files: 8×8 images of a
//! horizontal or a vertical bar at a random position, with noise. A network
//! learns to tell them apart; the CPU path needs no GPU.
//!
//! ```text
//! cargo run --release --example custom_data
//! ```

use gpu_mlp::rng::Rng;
use gpu_mlp::{Dataset, Device, Optimizer, OptimizerKind, Split, SplitKind, Trainer};

const SIDE: usize = 8;

/// `n` images with labels: 0 a horizontal bar, 1 a vertical one.
fn bars(n: usize, rng: &mut Rng) -> gpu_mlp::Result<Split> {
    let mut images = Vec::with_capacity(n * SIDE * SIDE);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let label = rng.below(2) as u8;
        let at = rng.below(SIDE as u64) as usize;
        for y in 0..SIDE {
            for x in 0..SIDE {
                let on = if label == 0 { y == at } else { x == at };
                let noise = rng.below(64) as u8;
                images.push(if on { 255 - noise } else { noise });
            }
        }
        labels.push(label);
    }
    Split::new(images, labels, SIDE * SIDE)
}

fn main() -> gpu_mlp::Result<()> {
    let mut rng = Rng::new(7);
    let (train, test) = (bars(2000, &mut rng)?, bars(500, &mut rng)?);
    let data = Dataset::from_memory("bars", train, test, (SIDE, SIDE), 2)?;

    let model = Trainer::new(&[16])
        .optimizer(Optimizer::new(OptimizerKind::Adam, Some(0.01), 0.0))
        .batch_size(50)
        .epochs(5)
        .device(Device::Cpu)
        .fit(data.clone())?;
    let report = model.evaluate(data, SplitKind::Test, &Device::Cpu)?;
    // A classifier always has an accuracy.
    let accuracy = report.accuracy.unwrap_or_default();
    println!(
        "test accuracy {:.2}% on {} examples",
        100.0 * accuracy,
        report.examples
    );
    if accuracy < 0.95 {
        return Err(gpu_mlp::Error::Usage(format!(
            "the bars should be easy; accuracy {accuracy:.3}"
        )));
    }
    Ok(())
}
