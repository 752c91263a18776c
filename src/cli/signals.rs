//! Ctrl-C and SIGTERM: the run stops after its current step and saves, so that
//! resuming gives the same bits as a run that was never interrupted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gpu_mlp::Error;

/// SIGINT and SIGTERM set the returned flag (the run stops after the current step,
/// saves and exits 130); a second one exits at once.
pub(crate) fn on_interrupt() -> Result<Arc<AtomicBool>, Error> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let registered =
            signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&flag))
                .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&flag)));
        registered.map_err(|e| Error::Resources(format!("cannot handle signal {signal}: {e}")))?;
    }
    Ok(flag)
}

/// Whether an interrupt has arrived.
pub(crate) fn interrupted(flag: &AtomicBool) -> bool {
    flag.load(Ordering::Relaxed)
}
