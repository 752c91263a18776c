//! Error types of the library. Every message names the file, flag or device
//! limit involved, because the user has to act on it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {problem}")]
    Data { path: PathBuf, problem: String },

    #[error("{0}")]
    Config(String),

    #[error("GPU: {0}")]
    Gpu(String),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn data(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Data {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
