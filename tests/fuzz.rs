//! Fuzzing the three readers of untrusted files (IDX, safetensors checkpoints, PNG)
//! with proptest, inside the normal test suite: valid files mutated at random (bytes
//! flipped, cut, inserted, header fields overwritten) and plain random bytes. Each
//! reader must answer every input with a value or an error: never a panic, a hang
//! or an allocation the input did not pay for, and a value it accepts must be
//! consistent.
//!
//! Cases per target: `GPU_MLP_FUZZ_CASES` (default 2000, about a second). A longer
//! run: `GPU_MLP_FUZZ_CASES=100000 cargo test --release --test fuzz`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{gzip_bytes, temp_dir};
use gpu_mlp::checkpoint::{Checkpoint, RunSettings, TrainingState};
use gpu_mlp::data::idx::{encode_idx_u8, read_idx_u8};
use gpu_mlp::network::{Activation, Architecture, Loss};
use gpu_mlp::optimizer::{Optimizer, OptimizerKind, OptimizerState};
use gpu_mlp::rng::Rng;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn cases() -> u32 {
    std::env::var("GPU_MLP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// One change to a file's bytes.
#[derive(Clone, Debug)]
enum Mutation {
    Flip {
        at: usize,
        bits: u8,
    },
    Cut {
        at: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    /// A big-endian and a little-endian u32 at `at`: IDX dimensions, safetensors lengths.
    Word {
        at: usize,
        value: u32,
        big_endian: bool,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        any::<usize>().prop_map(|at| Mutation::Cut { at }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), any::<u32>(), any::<bool>()).prop_map(|(at, value, big_endian)| {
            Mutation::Word {
                at,
                value,
                big_endian,
            }
        }),
    ]
}

fn mutate(mut bytes: Vec<u8>, changes: &[Mutation], header: usize) -> Vec<u8> {
    for m in changes {
        if bytes.is_empty() {
            break;
        }
        // Most changes land in the header, where the parsing decisions are.
        let place = |at: usize| {
            if at.is_multiple_of(4) {
                at % bytes.len()
            } else {
                at % header.min(bytes.len())
            }
        };
        match m {
            Mutation::Flip { at, bits } => {
                let i = place(*at);
                bytes[i] ^= bits;
            }
            Mutation::Cut { at } => {
                let i = place(*at);
                bytes.truncate(i);
            }
            Mutation::Insert { at, bytes: extra } => {
                let i = place(*at);
                bytes.splice(i..i, extra.iter().copied());
            }
            Mutation::Word {
                at,
                value,
                big_endian,
            } => {
                let i = place(*at).min(bytes.len().saturating_sub(4));
                let word = if *big_endian {
                    value.to_be_bytes()
                } else {
                    value.to_le_bytes()
                };
                for (b, w) in bytes[i..].iter_mut().zip(word) {
                    *b = w;
                }
            }
        }
    }
    bytes
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn idx_reader_answers_every_mutated_file_without_panicking() {
    let dir = temp_dir("fuzz_idx");
    let data: Vec<u8> = (0..6 * 5 * 4).map(|i| (i * 37) as u8).collect();
    let raw = encode_idx_u8(&[6, 5, 4], &data);
    let gz = gzip_bytes(&raw);
    let strategy = (
        any::<bool>(),
        prop::collection::vec(mutation(), 1..4),
        1usize..4,
    );
    runner()
        .run(&strategy, |(gzip, changes, dims)| {
            let (bytes, header) = if gzip { (&gz, 24) } else { (&raw, 16) };
            let path = write(&dir, "f", &mutate(bytes.clone(), &changes, header));
            if let Ok(a) = read_idx_u8(&path, dims) {
                prop_assert_eq!(a.dims.len(), dims);
                prop_assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
            }
            Ok(())
        })
        .unwrap();
    runner()
        .run(&prop::collection::vec(any::<u8>(), 0..64), |bytes| {
            let path = write(&dir, "r", &bytes);
            let _ = read_idx_u8(&path, 3);
            Ok(())
        })
        .unwrap();
}

/// A small saved checkpoint with Adam state, class names and a history.
fn checkpoint_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let arch = Architecture::new(4, &[3], 2, Activation::Relu, Loss::CrossEntropy).unwrap();
        let opt = Optimizer::new(OptimizerKind::Adam, None, 0.9);
        let params = arch.init_params(&mut Rng::new(3));
        let mut state = OptimizerState::new(opt.kind, params.len());
        state.m.iter_mut().for_each(|m| *m = 0.25);
        state.v.iter_mut().for_each(|v| *v = 0.5);
        state.t = 12;
        let settings = RunSettings {
            arch,
            opt,
            seed: 3,
            batch_size: 10,
            rows: 2,
            cols: 2,
            channels: 1,
            layout: gpu_mlp::data::Layout::Planes,
            // Statistics tensors too, so that their reading is fuzzed as well.
            input: gpu_mlp::data::normalize::InputTransform {
                kind: gpu_mlp::data::normalize::Normalize::Standard,
                dtype: gpu_mlp::data::Dtype::F32,
                shift: vec![0.5, -1.0, 2.0, 0.0],
                scale: vec![1.0, 0.25, 4.0, 2.0],
            },
            class_names: Some(vec!["a".into(), "b".into()]),
            class_weight: Some(gpu_mlp::task::ClassWeight::Balanced),
            schedule: gpu_mlp::schedule::LrSchedule::constant(0.001),
            val_split: Some(0.1),
            early_stopping: Some(gpu_mlp::report::EarlyStopping {
                patience: 3,
                monitor: gpu_mlp::report::Monitor::ValLoss,
            }),
            source: Some(gpu_mlp::data::DataSource {
                path: "/tmp/data.csv".into(),
                format: gpu_mlp::data::Format::Csv,
                label_column: Some("y".into()),
                weight_column: None,
                test_data: None,
                test_split: Some(0.2),
                coarse_labels: false,
                feature_names: Some(vec!["x".into(), "y".into()]),
            }),
        };
        let state = TrainingState {
            params,
            optimizer: state,
            epochs_trained: 2,
            rng_state: [1, 2, 3, 4],
            history: Vec::new(),
            progress: None,
            best_model: None,
            best: gpu_mlp::report::BestSoFar {
                value: Some(0.5),
                epoch: 2,
                since: 0,
            },
        };
        let c = Checkpoint { settings, state };
        let path = temp_dir("fuzz_ckpt_src").join("c.safetensors");
        c.save(&path).unwrap();
        std::fs::read(&path).unwrap()
    })
}

#[test]
fn checkpoint_loader_answers_every_mutated_file_without_panicking() {
    let dir = temp_dir("fuzz_ckpt");
    let original = checkpoint_bytes();
    let header = 8 + u64::from_le_bytes(original[..8].try_into().unwrap()) as usize;
    runner()
        .run(&prop::collection::vec(mutation(), 1..4), |changes| {
            let path = write(&dir, "c", &mutate(original.to_vec(), &changes, header));
            if let Ok(c) = Checkpoint::load(&path) {
                prop_assert_eq!(c.state.params.len(), c.settings.arch.param_count());
                prop_assert!(c.state.params.iter().all(|p| p.is_finite()));
                prop_assert!(c
                    .state
                    .optimizer
                    .check_fits(c.settings.opt.kind, c.state.params.len())
                    .is_ok());
                prop_assert!(c.settings.opt.validate().is_ok());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn checkpoint_metadata_values_are_all_checked() {
    let dir = temp_dir("fuzz_ckpt_meta");
    let original = checkpoint_bytes();
    let n = u64::from_le_bytes(original[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&original[8..8 + n]).unwrap();
    let keys: Vec<String> = header["__metadata__"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let values = prop_oneof![
        Just(String::new()),
        Just("NaN".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("1".to_string()),
        Just("18446744073709551615".to_string()),
        Just("0000000000000000,0000000000000000,0000000000000000,0000000000000000".to_string()),
        Just("60000,60000,2".to_string()),
        "[ -~]{0,12}",
    ];
    runner()
        .run(&(0..keys.len(), values), |(k, value)| {
            let mut h = header.clone();
            h["__metadata__"][&keys[k]] = serde_json::Value::from(value);
            let text = serde_json::to_vec(&h).unwrap();
            let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(&text);
            bytes.extend_from_slice(&original[8 + n..]);
            let path = write(&dir, "m", &bytes);
            if let Ok(c) = Checkpoint::load(&path) {
                prop_assert!(c.settings.opt.validate().is_ok());
                prop_assert!(c.state.rng_state != [0; 4]);
                prop_assert!(c.settings.batch_size >= 1);
            }
            Ok(())
        })
        .unwrap();
}

fn png_bytes(color: png::ColorType, channels: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 28, 28);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        let data: Vec<u8> = (0..28 * 28 * channels).map(|i| (i * 7) as u8).collect();
        w.write_image_data(&data).unwrap();
    }
    out
}

#[test]
fn png_reader_answers_every_mutated_file_without_panicking() {
    let dir = temp_dir("fuzz_png");
    let pngs = [
        png_bytes(png::ColorType::Grayscale, 1),
        png_bytes(png::ColorType::Rgb, 3),
        png_bytes(png::ColorType::Rgba, 4),
    ];
    let strategy = (0..pngs.len(), prop::collection::vec(mutation(), 1..4));
    runner()
        .run(&strategy, |(which, changes)| {
            let path = write(&dir, "p.png", &mutate(pngs[which].clone(), &changes, 33));
            if let Ok(pixels) = gpu_mlp::eval::read_png_gray(&path, 28, 28) {
                prop_assert_eq!(pixels.len(), 28 * 28);
            }
            Ok(())
        })
        .unwrap();
}

/// A small Keras-style archive: u8 images and i64 labels.
fn npz_bytes(deflate: bool) -> Vec<u8> {
    let dir = temp_dir("fuzz_npz_src");
    let x = common::npy("|u1", &[4, 3, 2], &(0..24).collect::<Vec<u8>>());
    let y = common::npy(
        "<i8",
        &[4],
        &[0i64, 1, 2, 1]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    );
    let entries = [
        ("x_train", x.clone()),
        ("y_train", y.clone()),
        ("x_test", x),
        ("y_test", y),
    ];
    let path = dir.join(format!("a{deflate}.npz"));
    common::write_npz(&path, &entries, deflate);
    std::fs::read(path).unwrap()
}

/// Whatever a reader accepts must be a consistent data set.
fn consistent(ds: &gpu_mlp::Dataset) -> bool {
    ds.check().is_ok()
        && ds.splits().all(|(_, s)| {
            s.features.len() == s.len() * s.width && s.width == ds.width() && !s.is_empty()
        })
}

#[test]
fn npz_csv_and_cifar_readers_answer_every_mutated_file_without_panicking() {
    use gpu_mlp::data::{load, Format, LoadOptions};
    let dir = temp_dir("fuzz_formats");
    let npz = [npz_bytes(false), npz_bytes(true)];
    let csv = b"a,\"b c\",label\n1.5,2,x\n-3,4e1,y\n5,6,x\n7,8,z\n".to_vec();
    let cifar: Vec<u8> = (0..2u8)
        .flat_map(|l| std::iter::once(l).chain((0..3072).map(move |p| (p as u8) ^ l)))
        .collect();
    let cifar_dir = dir.join("cifar");
    std::fs::create_dir_all(&cifar_dir).unwrap();
    for b in 1..=5 {
        write(&cifar_dir, &format!("data_batch_{b}.bin"), &cifar);
    }
    let strategy = (0usize..4, prop::collection::vec(mutation(), 1..4));
    runner()
        .run(&strategy, |(which, changes)| {
            let (path, options) = match which {
                0 | 1 => {
                    let bytes = mutate(npz[which].clone(), &changes, 200);
                    (write(&dir, "f.npz", &bytes), LoadOptions::default())
                }
                2 => {
                    let bytes = mutate(csv.clone(), &changes, csv.len());
                    let options = LoadOptions {
                        test_split: Some(0.5),
                        format: Some(Format::Csv),
                        ..Default::default()
                    };
                    (write(&dir, "f.csv", &bytes), options)
                }
                _ => {
                    write(
                        &cifar_dir,
                        "test_batch.bin",
                        &mutate(cifar.clone(), &changes, 16),
                    );
                    (cifar_dir.clone(), LoadOptions::default())
                }
            };
            if let Ok(ds) = load(&path, &options) {
                prop_assert!(consistent(&ds), "{ds:?}");
            }
            Ok(())
        })
        .unwrap();
}

/// A PyTorch state dict (`save_file`'s format: safetensors, `format: pt`) of a
/// 4-3-2 network under `nn.Sequential`'s names.
fn state_dict_bytes() -> Vec<u8> {
    let tensors: [(&str, Vec<usize>); 4] = [
        ("0.weight", vec![3, 4]),
        ("0.bias", vec![3]),
        ("2.weight", vec![2, 3]),
        ("2.bias", vec![2]),
    ];
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, s)| {
            let values: Vec<f32> = (0..s.iter().product::<usize>())
                .map(|i| i as f32 * 0.1)
                .collect();
            bytemuck::cast_slice(&values).to_vec()
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&data)
        .map(|((n, s), b)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b);
            (n.to_string(), view.unwrap())
        })
        .collect();
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(views, Some(meta)).unwrap()
}

/// Whatever the state-dict reader accepts is a network whose parameters fill it
/// and are finite; the rest is an error, never a panic.
#[test]
fn state_dict_reader_answers_every_mutated_file_without_panicking() {
    let dir = temp_dir("fuzz_state_dict");
    let good = state_dict_bytes();
    let path = write(&dir, "sd.safetensors", &good);
    let c = gpu_mlp::state_dict::load_state_dict(&path, Activation::Relu).unwrap();
    assert_eq!(c.settings.arch.sizes, vec![4, 3, 2]);
    runner()
        .run(&prop::collection::vec(mutation(), 1..4), |changes| {
            let path = write(&dir, "sd.safetensors", &mutate(good.clone(), &changes, 160));
            if !gpu_mlp::state_dict::is_state_dict(&path) {
                return Ok(());
            }
            if let Ok(c) = gpu_mlp::state_dict::load_state_dict(&path, Activation::Relu) {
                prop_assert_eq!(c.state.params.len(), c.settings.arch.param_count());
                prop_assert!(c.state.params.iter().all(|p| p.is_finite()));
            }
            Ok(())
        })
        .unwrap();
}

/// A tar holding the CIFAR-10 members (small).
fn tar_bytes() -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (i, member) in gpu_mlp::download::CIFAR10.extract.iter().enumerate() {
        let data = vec![i as u8; 64 + i];
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, member, &data[..]).unwrap();
    }
    tar.into_inner().unwrap()
}

/// The download's archive extraction on mutated archives (the gzip stream, or
/// the tar inside it): an error or the members, never a panic, and never a file
/// outside the directory nor one that is not a member.
#[test]
fn archive_extraction_answers_every_mutated_archive_without_panicking() {
    let dir = temp_dir("fuzz_archive");
    let raw = tar_bytes();
    let good = gzip_bytes(&raw);
    let members = gpu_mlp::download::CIFAR10.extract;
    let name = |m: &str| m.rsplit('/').next().unwrap().to_string();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let archive = write(&dir, "a.tar.gz", &good);
    gpu_mlp::download::extract_members(&archive, &out, members).unwrap();
    runner()
        .run(
            &(any::<bool>(), prop::collection::vec(mutation(), 1..4)),
            |(inner, changes)| {
                let _ = std::fs::remove_dir_all(&out);
                std::fs::create_dir_all(&out).unwrap();
                let bytes = match inner {
                    true => gzip_bytes(&mutate(raw.clone(), &changes, 512)),
                    false => mutate(good.clone(), &changes, 64),
                };
                let archive = write(&dir, "a.tar.gz", &bytes);
                let _ = gpu_mlp::download::extract_members(&archive, &out, members);
                for entry in std::fs::read_dir(&out).unwrap() {
                    let file = entry.unwrap().file_name().to_string_lossy().into_owned();
                    prop_assert!(members.iter().any(|m| name(m) == file), "left {file}");
                }
                Ok(())
            },
        )
        .unwrap();
    let mut top: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(
        top,
        ["a.tar.gz", "out"],
        "a file was written outside the directory"
    );
}
