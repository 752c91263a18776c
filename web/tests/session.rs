//! The page's session under hostile files: every mutated IDX set, `.npz` and
//! checkpoint, every image of the wrong size and every example index is answered
//! with an error or a result, never a panic (in the browser a panic traps the
//! module and leaves the session borrowed for good), and a model trained or
//! loaded before stays downloadable and usable after each refused file.

#[path = "../../tests/common/npy.rs"]
mod npy;

use gpu_mlp::data::idx::encode_idx_u8;
use gpu_mlp::{Dataset, Device, Split, Trainer};
use gpu_mlp_web::SessionCore;
use npy::npy;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn runner() -> TestRunner {
    let cases = std::env::var("GPU_MLP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Four 2×2 images of two classes, as each file format holds them.
fn images() -> (Vec<u8>, Vec<u8>) {
    let pixels = vec![
        0, 255, 0, 255, 255, 0, 255, 0, 0, 250, 5, 255, 250, 0, 255, 5,
    ];
    (pixels, vec![0, 1, 0, 1])
}

fn idx_files() -> [Vec<u8>; 4] {
    let (pixels, labels) = images();
    let x = encode_idx_u8(&[4, 2, 2], &pixels);
    let y = encode_idx_u8(&[4], &labels);
    [x.clone(), y.clone(), x, y]
}

fn npz_bytes(deflate: bool) -> Vec<u8> {
    npz_with(deflate, &[4, 2, 2])
}

/// An `.npz` whose x arrays claim `x_shape` (over the same bytes).
fn npz_with(deflate: bool, x_shape: &[usize]) -> Vec<u8> {
    let (pixels, labels) = images();
    let (x, y) = (npy("|u1", x_shape, &pixels), npy("|u1", &[4], &labels));
    let entries = [
        ("x_train", x.clone()),
        ("y_train", y.clone()),
        ("x_test", x),
        ("y_test", y),
    ];
    npy::npz_bytes(&entries, deflate)
}

fn checkpoint_bytes() -> Vec<u8> {
    let (pixels, labels) = images();
    let split = || Split::new(pixels.clone(), labels.clone(), 4).unwrap();
    let data = Dataset::from_memory("four", split(), split(), (2, 2), 2).unwrap();
    let model = Trainer::new(&[3])
        .epochs(2)
        .device(Device::Cpu)
        .fit(data)
        .unwrap();
    model.checkpoint().to_bytes("m.safetensors").unwrap()
}

/// Flips, cuts and overwrites with words: what a damaged or hostile file holds.
fn mutate(mut bytes: Vec<u8>, changes: &[(usize, u32, u8)]) -> Vec<u8> {
    for &(at, word, kind) in changes {
        if bytes.is_empty() {
            break;
        }
        // Most changes land in the first 128 bytes, where the headers are.
        let i = if at % 4 == 0 {
            at % bytes.len()
        } else {
            at % bytes.len().min(128)
        };
        match kind % 3 {
            0 => bytes[i] ^= (word as u8).max(1),
            1 => bytes.truncate(i),
            _ => {
                for (b, w) in bytes[i..].iter_mut().zip(word.to_le_bytes()) {
                    *b = w;
                }
            }
        }
    }
    bytes
}

#[test]
fn every_hostile_input_is_answered_and_the_model_survives() {
    let (npz, idx, model) = (
        [npz_bytes(false), npz_bytes(true)],
        idx_files(),
        checkpoint_bytes(),
    );
    let mut session = SessionCore::default();
    session.load_checkpoint("m.safetensors", &model).unwrap();
    session.load_npz("good.npz", &npz[0]).unwrap();
    let good = session.checkpoint().unwrap();
    assert_eq!(session.test_example(3).unwrap().len(), 4);
    // Shapes a hostile file claims: a 0-d array, empty axes, more axes, sizes the
    // bytes cannot hold.
    let shapes: [&[usize]; 5] = [
        &[],
        &[0, 2, 2],
        &[4, 0],
        &[4, 2, 2, 2, 2],
        &[99999999999, 2, 2],
    ];
    for shape in shapes {
        for deflate in [false, true] {
            let refused = session.load_npz("hostile.npz", &npz_with(deflate, shape));
            assert!(refused.is_err(), "{shape:?}: {refused:?}");
            let model = session.checkpoint().unwrap();
            assert_eq!(model, good, "{shape:?}: the model changed");
        }
    }
    let change = (any::<usize>(), any::<u32>(), any::<u8>());
    let strategy = (
        0usize..6,
        prop::collection::vec(change, 1..4),
        any::<usize>(),
    );
    runner()
        .run(&strategy, |(which, changes, n)| {
            let mut s = SessionCore::default();
            s.load_checkpoint("m.safetensors", &model).unwrap();
            let answer = match which {
                0 | 1 => s.load_npz("f.npz", &mutate(npz[which].clone(), &changes)),
                2 => {
                    let mut files = idx.clone();
                    files[n % 4] = mutate(files[n % 4].clone(), &changes);
                    s.load_idx(files)
                }
                3 => s.load_checkpoint("f.safetensors", &mutate(model.clone(), &changes)),
                4 => s.predict(&vec![7; n % 64]).map(|_| String::new()),
                _ => {
                    let _ = s.load_npz("good.npz", &npz[0]);
                    let _ = s.limit(n % 7, (n / 7) % 7);
                    s.test_example(n % 9).map(|_| String::new())
                }
            };
            // Whatever was refused, the model is still there to download and to use
            // (a mutated checkpoint that loads is a model of its own).
            let bytes = s.checkpoint().map_err(TestCaseError::fail)?;
            if which == 3 && answer.is_ok() {
                return Ok(());
            }
            prop_assert_eq!(&bytes, &good);
            let p = s.predict(&[0, 255, 0, 255]).map_err(TestCaseError::fail)?;
            prop_assert!(p.iter().all(|x| x.is_finite()));
            Ok(())
        })
        .unwrap();
}
