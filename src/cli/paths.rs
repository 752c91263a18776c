//! Where data and downloads live when the flags do not say: the environment
//! variables and default folders the command line consults (the library takes paths).

use std::path::{Path, PathBuf};

use gpu_mlp::checkpoint::Checkpoint;
use gpu_mlp::choice::Choice;
use gpu_mlp::data;
use gpu_mlp::network::Activation;
use gpu_mlp::state_dict;
use gpu_mlp::Error;

/// Where `train` looks for data when `--data` is not given, in order (after `$GPU_MLP_DATA`).
pub(crate) const DEFAULT_DATA_DIRS: [&str; 2] =
    ["./data/mnist", "/usr/share/datasets/fashion-mnist"];
pub(crate) const DATA_ENV: &str = "GPU_MLP_DATA";

/// Chooses the data directory: the flag, else `$GPU_MLP_DATA`, else the defaults.
pub(crate) fn resolve_data_dir(flag: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(dir) = flag {
        // `--data mnist` / `--data fashion-mnist` name a data set, unless a directory
        // of that name exists here.
        if let Some(name) = dir.to_str().filter(|_| !dir.exists()) {
            if let Some(known) = gpu_mlp::download::known(name) {
                let cached = cache_root().join(known.name);
                let system =
                    (known.name == "fashion-mnist").then(|| PathBuf::from(DEFAULT_DATA_DIRS[1]));
                return [Some(cached.clone()), system]
                    .into_iter()
                    .flatten()
                    .find(|d| data::is_data_dir(d))
                    .ok_or_else(|| {
                        Error::Usage(format!(
                            "--data {name}: not downloaded yet (looked in {}); run `gpu-mlp download {name}`{}",
                            cached.display(),
                            if known.name == "fashion-mnist" {
                                " or `apt-get install dataset-fashion-mnist`"
                            } else {
                                ""
                            }
                        ))
                    });
            }
        }
        if !dir.exists() {
            return Err(Error::Usage(format!(
                "--data {}: no such file or directory",
                dir.display()
            )));
        }
        return Ok(dir.to_path_buf());
    }
    if let Some(env) = std::env::var_os(DATA_ENV) {
        let dir = PathBuf::from(env);
        if !dir.exists() {
            return Err(Error::Usage(format!(
                "${DATA_ENV}={}: no such file or directory",
                dir.display()
            )));
        }
        return Ok(dir);
    }
    DEFAULT_DATA_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|d| data::is_data_dir(d))
        .ok_or_else(|| {
            Error::Usage(format!(
                "no data found: pass --data DIR or set ${DATA_ENV} to a directory holding \
                 train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], \
                 t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]; looked in {}. \
                 On Debian/Ubuntu `sudo apt-get install dataset-fashion-mnist` installs Fashion-MNIST \
                 in /usr/share/datasets/fashion-mnist",
                DEFAULT_DATA_DIRS.join(" and ")
            ))
        })
}

/// Where downloads go by default: `$GPU_MLP_CACHE`, else `$XDG_CACHE_HOME/gpu-mlp`,
/// else `~/.cache/gpu-mlp`; one folder per data set below it.
pub(crate) fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("GPU_MLP_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("gpu-mlp");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("gpu-mlp")
}

/// The network in `path`: a gpu-mlp checkpoint, or with `activation` a PyTorch
/// state dict of Linear layers (which records no activation).
pub(crate) fn load_model(path: &Path, activation: Option<Activation>) -> Result<Checkpoint, Error> {
    let Some(a) = activation else {
        // Asked only when the file is refused, to say what would read it.
        return Checkpoint::load(path).map_err(|e| match state_dict::is_state_dict(path) {
            true => Error::data(
                path,
                "a safetensors file without gpu-mlp metadata (a PyTorch state dict?): give \
                 --activation sigmoid|relu|tanh to read it as Linear layers",
            ),
            false => e,
        });
    };
    if state_dict::is_state_dict(path) {
        return state_dict::load_state_dict(path, a);
    }
    let c = Checkpoint::load(path)?;
    match c.settings.arch.activation == a {
        true => Ok(c),
        false => Err(Error::Usage(format!(
            "--activation {} disagrees with {}, a {} network (--activation is for state \
             dicts without gpu-mlp metadata)",
            a.name(),
            path.display(),
            c.settings.arch.activation.name()
        ))),
    }
}

/// Which network a command reads.
#[derive(clap::Args)]
pub(crate) struct ModelArgs {
    /// The network: a checkpoint written by `train --save`, or a PyTorch state dict
    /// of Linear layers with --activation.
    #[arg(long = "model", value_name = "FILE")]
    pub(crate) path: PathBuf,
    /// Read --model as a state dict without gpu-mlp metadata (nn.Sequential of
    /// nn.Linear, saved with safetensors) whose hidden layers use this activation.
    #[arg(long, value_parser = super::choice::<Activation>())]
    pub(crate) activation: Option<Activation>,
}

impl ModelArgs {
    pub(crate) fn load(&self) -> Result<Checkpoint, Error> {
        load_model(&self.path, self.activation)
    }
}
