//! Loads a checkpoint and classifies PNG files, or the first test examples of a
//! data directory.
//!
//! ```text
//! cargo run --release --example predict -- MODEL.safetensors IMAGE.png...
//! cargo run --release --example predict -- MODEL.safetensors --data DATA_DIR
//! ```

use gpu_mlp::{data, eval, Model};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model_path, rest) = args
        .split_first()
        .ok_or("usage: predict MODEL.safetensors (IMAGE.png... | --data DATA_DIR)")?;
    let model = Model::load(model_path.as_ref())?;
    let c = model.checkpoint();
    let name = |class: usize| match model.class_names() {
        Some(names) => format!("{class} {}", names[class]),
        None => class.to_string(),
    };

    if let [flag, dir] = rest {
        if flag == "--data" {
            let data = data::load_dir(dir.as_ref(), model.architecture().classes())?;
            let n = data.test.len().min(10);
            let images = &data.test.features.as_u8().unwrap_or_default()[..n * data.test.width];
            for (i, p) in model.probabilities(images)?.iter().enumerate() {
                let best = gpu_mlp::backend::argmax(p);
                println!(
                    "test example {i}: {} ({:.1}%), true {}",
                    name(best),
                    100.0 * p[best],
                    name(data.test.labels()[i] as usize)
                );
            }
            return Ok(());
        }
    }
    for path in rest {
        let pixels = eval::read_png_gray(path.as_ref(), c.settings.rows, c.settings.cols)?;
        let class = model.predict(&pixels)?;
        println!("{path}: {}", name(class));
    }
    Ok(())
}
