//! The files a training run writes, each checked and locked before training starts
//! so that a bad path fails in the first second, not after the last epoch.

use std::path::{Path, PathBuf};

use gpu_mlp::files::{same_file, Output};
use gpu_mlp::Error;

/// The outputs of a run, each prepared (checked, locked) before training.
pub(crate) struct Outputs {
    pub(crate) save: Option<Output>,
    pub(crate) save_last: Option<Output>,
    pub(crate) metrics: Option<Output>,
    pub(crate) plot: Option<Output>,
}

impl Outputs {
    /// Refuses an output that is one of the run's inputs (`flag`, path): writing it
    /// would destroy what the run reads. `--save` and `--save-last` may replace the
    /// checkpoint `--resume` continues (resuming in place), nothing else.
    pub(crate) fn check_inputs(&self, inputs: &[(&str, &Path)]) -> Result<(), Error> {
        let outputs = [
            ("--save", &self.save),
            ("--save-last", &self.save_last),
            ("--metrics", &self.metrics),
            ("--plot", &self.plot),
        ];
        for (out_flag, out) in outputs {
            let Some(out) = out else { continue };
            for &(in_flag, input) in inputs {
                let in_place = in_flag == "--resume" && out_flag.starts_with("--save");
                if !in_place && same_file(&out.path, input) {
                    return Err(Error::Usage(format!(
                        "{out_flag} {} is the {in_flag} input: writing it would destroy it; \
                         name another file",
                        out.path.display()
                    )));
                }
            }
        }
        Ok(())
    }

    /// --save, --save-last, --metrics and --plot, each checked and locked.
    pub(crate) fn prepare(
        save: &Option<PathBuf>,
        save_last: &Option<PathBuf>,
        metrics: &Option<PathBuf>,
        plot: &Option<PathBuf>,
    ) -> Result<Self, Error> {
        let prepare = |path: &Option<PathBuf>, flag: &str| -> Result<Option<Output>, Error> {
            let Some(path) = path else { return Ok(None) };
            let out = Output::prepare(path, flag)?;
            if out.path != *path {
                log::info!(
                    "{flag} {} writes through to {}",
                    path.display(),
                    out.path.display()
                );
            }
            Ok(Some(out))
        };
        let outputs = Outputs {
            save: prepare(save, "--save")?,
            save_last: prepare(save_last, "--save-last")?,
            metrics: prepare(metrics, "--metrics")?,
            plot: prepare(plot, "--plot")?,
        };
        let paths: Vec<&PathBuf> = [
            &outputs.save,
            &outputs.save_last,
            &outputs.metrics,
            &outputs.plot,
        ]
        .into_iter()
        .flatten()
        .map(|o| &o.path)
        .collect();
        if (1..paths.len()).any(|i| paths[..i].contains(&paths[i])) {
            return Err(Error::Usage(
                "--save, --save-last, --metrics and --plot must name different files".into(),
            ));
        }
        Ok(outputs)
    }
}
