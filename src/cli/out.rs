//! Printing that never costs a run: text for a stdout or stderr that is closed (a
//! pipe into `head`) or full (`> /dev/full`) goes nowhere, instead of panicking as
//! `println!` does. Training goes on and its outputs are still saved.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);

/// Writes `args` and a newline to stdout, if `newline`; ignores write errors.
pub(crate) fn stdout(args: fmt::Arguments, newline: bool) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| {
        if newline {
            out.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        log::info!("stdout is gone ({e}); training continues, its files are still written");
    }
}

/// Writes `args` and a newline to stderr; ignores write errors.
pub(crate) fn stderr(args: fmt::Arguments) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}
