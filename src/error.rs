//! Error types of the library, by kind. Every message names the file, flag or
//! device limit involved, because the user has to act on it; the kind decides the
//! exit status (`Error::exit_code`).

use std::path::PathBuf;

/// Everything that can go wrong, by what the user has to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting the caller chose is invalid or contradicts another (a flag, an
    /// argument, an environment override). The only kind that exits 2.
    #[error("{0}")]
    Usage(String),

    /// A library setting out of range, named as the API names it (`batch_size`,
    /// `lr`); the command line prints it as its flag. Exits 2, as `Usage`.
    #[error("{setting} {problem}")]
    Setting {
        /// The setting's name in the API (a `Trainer` method or struct field).
        setting: &'static str,
        /// What is wrong with its value, starting with the value.
        problem: String,
    },

    /// An input file is malformed, inconsistent or of the wrong kind (data, checkpoint, image).
    #[error("{path}: {problem}")]
    Data {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// The operating system refused a read or write.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// An output could not be produced (encoding a checkpoint, drawing a plot).
    #[error("{path}: {problem}")]
    Output {
        /// The output file.
        path: PathBuf,
        /// Why it could not be written.
        problem: String,
    },

    /// The GPU: no adapter, a device limit, a validation error, a lost device.
    #[error("GPU: {0}")]
    Gpu(String),

    /// The host cannot hold what was asked for (memory).
    #[error("{0}")]
    Resources(String),

    /// Training produced a non-finite loss.
    #[error(
        "training diverged in epoch {epoch}: the {what} is {value} (try a smaller learning rate)"
    )]
    Diverged {
        /// The epoch (1-based) whose loss was non-finite.
        epoch: usize,
        /// Which loss: training, validation or test.
        what: &'static str,
        /// The loss (NaN or infinite).
        value: f64,
    },

    /// A download failed on every mirror, or its checksum did not match.
    #[error("{0}")]
    Download(String),

    /// SIGINT or SIGTERM stopped the run after a step; what was saved, and where.
    #[error("interrupted: {0}")]
    Interrupted(String),
}

impl Error {
    /// A setting out of range: `problem` starts with its value.
    pub fn setting(setting: &'static str, problem: impl Into<String>) -> Self {
        Error::Setting {
            setting,
            problem: problem.into(),
        }
    }

    /// A malformed input file.
    pub fn data(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Data {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// A failed read or write of `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An output that could not be produced.
    pub fn output(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Output {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// The process exit status for this error: 2 for invalid usage (as clap's own
    /// usage errors), 130 after an interrupt (as a shell reports Ctrl-C), 1 for
    /// everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Setting { .. } => 2,
            Error::Interrupted(_) => 130,
            _ => 1,
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
