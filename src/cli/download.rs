//! `gpu-mlp download`: fetch a known data set into the cache.

use std::path::PathBuf;

use clap::Args;

use super::paths;
use gpu_mlp::data;
use gpu_mlp::Error;

#[derive(Args)]
pub(crate) struct DownloadArgs {
    /// mnist, fashion-mnist, kmnist, cifar10 or cifar100.
    #[arg(value_name = "DATASET")]
    pub(crate) dataset: String,
    /// Directory to fill [default: $GPU_MLP_DATA, else the cache: $GPU_MLP_CACHE,
    /// $XDG_CACHE_HOME/gpu-mlp or ~/.cache/gpu-mlp, then the data set's name, where
    /// `--data DATASET` finds it].
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// Base URL to fetch from instead of the built-in mirrors (repeat for fallbacks).
    #[arg(long, value_name = "URL")]
    pub(crate) mirror: Vec<String>,
}

pub(crate) fn run_download(args: DownloadArgs) -> Result<(), Error> {
    let known = gpu_mlp::download::known(&args.dataset).ok_or_else(|| {
        let names: Vec<&str> = gpu_mlp::download::KNOWN.iter().map(|k| k.name).collect();
        Error::Usage(format!(
            "unknown data set {:?}: expected one of {}",
            args.dataset,
            names.join(", ")
        ))
    })?;
    // Like train's data lookup: --dir, else $GPU_MLP_DATA (the data directory itself),
    // else the cache, where `--data NAME` finds it.
    let dir = args
        .dir
        .or_else(|| std::env::var_os(paths::DATA_ENV).map(PathBuf::from))
        .unwrap_or_else(|| paths::cache_root().join(known.name));
    let mirrors: Vec<String> = if args.mirror.is_empty() {
        known.mirrors.iter().map(|m| m.to_string()).collect()
    } else {
        args.mirror
            .iter()
            .map(|m| {
                if m.ends_with('/') {
                    m.clone()
                } else {
                    format!("{m}/")
                }
            })
            .collect()
    };
    let stall = gpu_mlp::download::STALL;
    gpu_mlp::download::fetch_dataset(&dir, &mirrors, &known, stall, |line| tell!("{line}"))?;
    // The files must also be valid data, not merely the expected bytes.
    data::load(&dir, &Default::default())?;
    say!("{}", dir.display());
    Ok(())
}
