//! The `gpu-mlp` command line: parses flags, calls the library, prints. It is
//! native only: in a browser the library is used through its async API.

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
use std::process::ExitCode;

#[cfg(not(target_arch = "wasm32"))]
use clap::Parser;

#[cfg(not(target_arch = "wasm32"))]
use cli::{Cli, Command};

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> ExitCode {
    // RUST_LOG=debug shows our adapter limits, buffer sizes and timings (a bare level
    // applies to gpu-mlp only: wgpu and naga at debug drown them); full env_logger
    // syntax (RUST_LOG=wgpu_core=debug,...) passes through unchanged.
    let filter = match std::env::var("RUST_LOG") {
        Ok(level) if !level.contains(['=', ',']) && !level.is_empty() => {
            format!("warn,gpu_mlp={level}")
        }
        Ok(spec) if !spec.is_empty() => spec,
        _ => "warn".to_string(),
    };
    env_logger::Builder::new().parse_filters(&filter).init();
    quiet_mesa_loader();
    let cli = Cli::parse();
    // What these print is their product: output lost is a failure. Training's
    // product is its files, which a closed stdout must never cost.
    let prints = matches!(
        cli.command,
        Command::Eval(_)
            | Command::Predict(_)
            | Command::Bench(_)
            | Command::Completions { .. }
            | Command::Devices { .. }
    );
    let result = cli::cpu_threads_from_env()
        .and_then(|()| cli::cpu_kernel_from_env())
        .and_then(|()| cli::host_memory_from_env())
        .and_then(|()| match cli.command {
            Command::Train(args) => cli::train::run_train(args),
            Command::Bench(args) => cli::bench::run_bench(args),
            Command::Eval(args) => cli::eval::run_eval(args),
            Command::Download(args) => cli::download::run_download(args),
            Command::Predict(args) => cli::eval::run_predict(args),
            Command::Export(args) => cli::export::run_export(args),
            Command::Completions { shell } => {
                cli::print_completions(shell);
                Ok(())
            }
            Command::Devices { backend } => {
                cli::list_devices(backend);
                Ok(())
            }
        })
        .and_then(|()| match prints {
            true => cli::out::finish_stdout(),
            false => Ok(()),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            cli::out::stderr(format_args!("error: {}", cli::describe_error(&e)));
            ExitCode::from(e.exit_code())
        }
    }
}

/// Mesa's Vulkan loader prints "error: XDG_RUNTIME_DIR is invalid or not set" on
/// stderr when the variable is missing, indistinguishable from gpu-mlp's own errors.
/// Where it is unset, point it at a private directory of this user's before any
/// thread starts.
#[cfg(not(target_arch = "wasm32"))]
fn quiet_mesa_loader() {
    #[cfg(unix)]
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        let uid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
        let dir = std::env::temp_dir().join(format!("gpu-mlp-runtime-{uid}"));
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        // Only a directory of ours, private, will do (as the XDG spec asks).
        let ours = std::fs::symlink_metadata(&dir)
            .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o077 == 0);
        if ours {
            // SAFETY: called at the start of main, before any other thread exists.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
        }
    }
}
