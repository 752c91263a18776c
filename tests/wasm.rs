//! The library as WebAssembly: the CPU path trains through the same async core
//! (`Trainer::fit_async`, the loop a browser's event loop drives), run under Node
//! by `wasm-bindgen-test-runner` (`make test-wasm`). Natively this file is empty.
#![cfg(target_arch = "wasm32")]

use std::sync::Arc;

use gpu_mlp::train::Silent;
use gpu_mlp::{Dataset, Device, Split, Trainer};
use wasm_bindgen_test::wasm_bindgen_test;

/// 4×4 images: class 0 bright on the left half, class 1 on the right, with noise.
fn data() -> Arc<Dataset> {
    let mut state = 7u32;
    let mut noise = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 26) as u8
    };
    let mut split = |n: usize| {
        let labels: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
        let images = labels
            .iter()
            .flat_map(|&c| (0..16).map(move |p| (p % 4 < 2) == (c == 0)))
            .map(|bright| if bright { 200 } else { 20 } + noise())
            .collect();
        Split::new(images, labels, 16).unwrap()
    };
    let (train, test) = (split(200), split(60));
    Arc::new(Dataset::from_memory("sides", train, test, (4, 4), 2).unwrap())
}

#[wasm_bindgen_test]
async fn the_cpu_path_trains_in_webassembly_and_repeats_its_bits() {
    let trainer = Trainer::new(&[8])
        .epochs(8)
        .batch_size(20)
        .seed(3)
        .device(Device::Cpu);
    let model = trainer.fit_async(data(), &mut Silent).await.unwrap();
    let test = model.test().unwrap();
    assert!(test.accuracy.is_some_and(|a| a > 0.95), "{test:?}");
    assert_eq!(model.history().len(), 8);
    let again = trainer.fit_async(data(), &mut Silent).await.unwrap();
    assert_eq!(
        model.checkpoint().state.params,
        again.checkpoint().state.params
    );
}
