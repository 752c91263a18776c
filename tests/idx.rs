//! IDX reading: round trips, and every kind of bad input gives an error (not a
//! panic, not a huge allocation) whose message names the file and the problem.

mod common;

use std::path::Path;

use common::{gzip_bytes, synthetic_dataset, temp_dir, write_idx_dir};
use gpu_mlp::data::idx::{encode_idx_u8, read_idx_u8};
use gpu_mlp::data::{apply_limits, load_dir};

fn error_of(path: &Path, dims: usize) -> String {
    read_idx_u8(path, dims)
        .expect_err("expected an error")
        .to_string()
}

fn assert_mentions(msg: &str, path: &Path, words: &str) {
    assert!(
        msg.contains(&path.display().to_string()),
        "{msg:?} does not name {}",
        path.display()
    );
    assert!(msg.contains(words), "{msg:?} does not say {words:?}");
}

#[test]
fn raw_and_gzip_round_trip() {
    let dir = temp_dir("idx_round_trip");
    let data: Vec<u8> = (0..2 * 3 * 5).map(|i| (i * 7) as u8).collect();
    let bytes = encode_idx_u8(&[2, 3, 5], &data);
    let raw = dir.join("raw");
    let gz = dir.join("named-without-gz-suffix");
    std::fs::write(&raw, &bytes).unwrap();
    std::fs::write(&gz, gzip_bytes(&bytes)).unwrap();
    for p in [&raw, &gz] {
        let a = read_idx_u8(p, 3).unwrap();
        assert_eq!(a.dims, vec![2, 3, 5]);
        assert_eq!(a.data, data);
    }
}

#[test]
fn dataset_directory_loads_raw_gzip_and_dotted_names() {
    let ds = synthetic_dataset(1, 10, 4, 30, 20);
    for (gzip, name) in [(false, "load_raw"), (true, "load_gz")] {
        let dir = temp_dir(name);
        write_idx_dir(&dir, &ds, gzip);
        let loaded = load_dir(&dir, 10).unwrap();
        assert_eq!(loaded.train.features, ds.train.features);
        assert_eq!(loaded.test.targets, ds.test.targets);
        assert_eq!((loaded.rows, loaded.cols), (4, 4));
    }
    // The common `train-images.idx3-ubyte` spelling.
    let dir = temp_dir("load_dotted");
    write_idx_dir(&dir, &ds, false);
    std::fs::rename(
        dir.join("train-images-idx3-ubyte"),
        dir.join("train-images.idx3-ubyte"),
    )
    .unwrap();
    assert_eq!(load_dir(&dir, 10).unwrap().train.len(), 30);
}

#[test]
fn wrong_magic_is_rejected() {
    let dir = temp_dir("idx_magic");
    let p = dir.join("f");
    std::fs::write(&p, b"PK\x03\x04 not an idx file").unwrap();
    assert_mentions(&error_of(&p, 3), &p, "not an IDX file");
    let mut float = encode_idx_u8(&[1], &[0]);
    float[2] = 0x0d; // float elements
    std::fs::write(&p, &float).unwrap();
    assert_mentions(&error_of(&p, 1), &p, "element type 0x0d");
}

#[test]
fn wrong_number_of_dimensions_is_rejected() {
    let dir = temp_dir("idx_dims");
    let p = dir.join("labels-as-images");
    std::fs::write(&p, encode_idx_u8(&[4], &[1, 2, 3, 4])).unwrap();
    assert_mentions(
        &error_of(&p, 3),
        &p,
        "wrong magic 0x00000801: expected 0x00000803",
    );
}

#[test]
fn truncated_and_trailing_data_are_rejected_raw_and_gzip() {
    let dir = temp_dir("idx_sizes");
    let bytes = encode_idx_u8(&[3, 2, 2], &[9; 12]);
    let cases = [
        ("truncated", bytes[..bytes.len() - 1].to_vec()),
        ("trailing data", [bytes.clone(), vec![0]].concat()),
        ("truncated header", bytes[..9].to_vec()),
        ("too short", bytes[..2].to_vec()),
    ];
    for (what, content) in cases {
        for gz in [false, true] {
            let p = dir.join(format!("{}-{gz}", what.replace(' ', "_")));
            std::fs::write(
                &p,
                if gz {
                    gzip_bytes(&content)
                } else {
                    content.clone()
                },
            )
            .unwrap();
            let words = if what == "too short" {
                "too short"
            } else {
                what
            };
            assert_mentions(&error_of(&p, 3), &p, words);
        }
    }
}

#[test]
fn a_header_claiming_billions_of_images_does_not_allocate_them() {
    let dir = temp_dir("idx_huge");
    let mut bytes = encode_idx_u8(&[0xFFFF_FFFF, 28, 28], &[]);
    bytes.extend_from_slice(&[1; 100]);
    for gz in [false, true] {
        let p = dir.join(format!("huge-{gz}"));
        std::fs::write(
            &p,
            if gz {
                gzip_bytes(&bytes)
            } else {
                bytes.clone()
            },
        )
        .unwrap();
        // 4.3e9 × 784 bytes would be 3.4 TB: refused from the header alone.
        assert_mentions(&error_of(&p, 3), &p, "at most 4294967296 bytes per file");
    }
    // Under the cap, the claim is checked against the bytes that really arrive.
    let mut bytes = encode_idx_u8(&[1_000_000, 28, 28], &[]);
    bytes.extend_from_slice(&[1; 100]);
    for gz in [false, true] {
        let p = dir.join(format!("large-{gz}"));
        std::fs::write(
            &p,
            if gz {
                gzip_bytes(&bytes)
            } else {
                bytes.clone()
            },
        )
        .unwrap();
        assert_mentions(&error_of(&p, 3), &p, "truncated");
    }
}

#[test]
fn corrupt_and_cut_gzip_streams_are_rejected() {
    let dir = temp_dir("idx_gzip");
    let gz = gzip_bytes(&encode_idx_u8(&[100], &[3; 100]));
    let cut = dir.join("cut.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    assert_mentions(&error_of(&cut, 1), &cut, "gzip");
    let mut bad = gz.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xFF;
    bad[mid + 1] ^= 0x55;
    let corrupt = dir.join("corrupt.gz");
    std::fs::write(&corrupt, &bad).unwrap();
    let msg = error_of(&corrupt, 1);
    assert!(msg.contains(&corrupt.display().to_string()), "{msg}");
}

#[test]
fn missing_file_is_named() {
    let dir = temp_dir("idx_missing");
    let ds = synthetic_dataset(2, 10, 4, 10, 10);
    write_idx_dir(&dir, &ds, false);
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte")).unwrap();
    let msg = load_dir(&dir, 10).unwrap_err().to_string();
    assert!(msg.contains("t10k-labels"), "{msg}");
}

#[test]
fn image_and_label_counts_must_agree() {
    let dir = temp_dir("idx_counts");
    let ds = synthetic_dataset(3, 10, 4, 10, 10);
    write_idx_dir(&dir, &ds, false);
    let p = dir.join("train-labels-idx1-ubyte");
    std::fs::write(
        &p,
        encode_idx_u8(&[9], &common::label_bytes(&ds.train)[..9]),
    )
    .unwrap();
    let msg = load_dir(&dir, 10).unwrap_err().to_string();
    assert_mentions(&msg, &p, "9 labels, but");
}

#[test]
fn train_and_test_image_sizes_must_agree() {
    let dir = temp_dir("idx_shapes");
    let ds = synthetic_dataset(4, 10, 4, 10, 10);
    write_idx_dir(&dir, &ds, false);
    let p = dir.join("t10k-images-idx3-ubyte");
    std::fs::write(
        &p,
        encode_idx_u8(&[10, 8, 2], ds.test.features.as_u8().unwrap()),
    )
    .unwrap();
    let msg = load_dir(&dir, 10).unwrap_err().to_string();
    assert_mentions(&msg, &p, "test images are 8×2, training images 4×4");
}

#[test]
fn labels_outside_the_class_range_are_rejected() {
    let dir = temp_dir("idx_labels");
    let mut ds = synthetic_dataset(5, 10, 4, 10, 10);
    if let gpu_mlp::data::Targets::Classes(c) = &mut ds.test.targets {
        c[7] = 10;
    }
    write_idx_dir(&dir, &ds, false);
    let msg = load_dir(&dir, 10).unwrap_err().to_string();
    assert_mentions(
        &msg,
        &dir.join("t10k-labels-idx1-ubyte"),
        "label 10 of example 7 is outside the class range 0..10",
    );
}

#[test]
fn empty_sets_and_empty_images_are_rejected() {
    let dir = temp_dir("idx_empty");
    let ds = synthetic_dataset(6, 10, 4, 10, 10);
    write_idx_dir(&dir, &ds, false);
    let p = dir.join("train-images-idx3-ubyte");
    std::fs::write(&p, encode_idx_u8(&[0, 4, 4], &[])).unwrap();
    std::fs::write(
        dir.join("train-labels-idx1-ubyte"),
        encode_idx_u8(&[0], &[]),
    )
    .unwrap();
    assert_mentions(
        &load_dir(&dir, 10).unwrap_err().to_string(),
        &p,
        "no images",
    );
    std::fs::write(&p, encode_idx_u8(&[10, 0, 4], &[])).unwrap();
    assert_mentions(&load_dir(&dir, 10).unwrap_err().to_string(), &p, "empty");
}

#[test]
fn limits_take_the_first_examples_and_reject_too_large() {
    let mut ds = synthetic_dataset(7, 10, 4, 50, 20);
    let first = ds.train.image(0).unwrap().to_vec();
    apply_limits(&mut ds, Some(10), Some(5)).unwrap();
    assert_eq!((ds.train.len(), ds.test.len()), (10, 5));
    assert_eq!(ds.train.image(0).unwrap(), &first[..]);
    let err = apply_limits(&mut ds, Some(11), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("train_limit 11 is larger than the 10 examples"),
        "{err}"
    );
}
