//! Class names that come with known data sets: a directory's name says which set
//! it is, and its labels' names follow (the IDX files themselves carry none).

use std::path::Path;

/// Fashion-MNIST's ten classes, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Kuzushiji-MNIST's ten classes (the hiragana's romanizations), in label order.
pub const KMNIST_CLASSES: [&str; 10] = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"];

/// Class names for a data directory, when its name says which data set it is.
pub fn class_names_for(dir: &Path, classes: usize) -> Option<Vec<String>> {
    let name = dir.to_string_lossy().to_lowercase();
    let names = match name {
        _ if classes != 10 => return None,
        n if n.contains("fashion") => FASHION_MNIST_CLASSES,
        n if n.contains("kmnist") => KMNIST_CLASSES,
        _ => return None,
    };
    Some(names.iter().map(|s| s.to_string()).collect())
}
