//! Printing that never costs a run: text for a stdout or stderr that is closed (a
//! pipe into `head`) or full (`> /dev/full`) goes nowhere, instead of panicking as
//! `println!` does. Training goes on and its outputs are still saved; a command
//! whose product is its output (`eval`, `predict`, …) ends with `finish_stdout`,
//! which fails when any of it was lost.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use gpu_mlp::Error;

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
/// Why stdout went: the first write error.
static STDOUT_ERROR: OnceLock<String> = OnceLock::new();

/// For a command whose product is what it prints: flushes stdout and fails (exit
/// 1, the reason on stderr) if any of it could not be written.
pub(crate) fn finish_stdout() -> Result<(), Error> {
    if let Err(e) = std::io::stdout().lock().flush() {
        lost(e);
    }
    match STDOUT_ERROR.get() {
        None => Ok(()),
        Some(why) => Err(Error::Output {
            path: "standard output".into(),
            problem: format!("could not be written ({why}); what was printed is incomplete"),
        }),
    }
}

fn lost(e: std::io::Error) {
    STDOUT_GONE.store(true, Ordering::Relaxed);
    let _ = STDOUT_ERROR.set(e.to_string());
}

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
        log::info!("stdout is gone ({e}); training continues, its files are still written");
        lost(e);
    }
}

/// Writes `args` and a newline to stderr; ignores write errors.
pub(crate) fn stderr(args: fmt::Arguments) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// `text` after `lead`, its words wrapped to lines of at most `width` columns
/// (a longer word keeps a line of its own), later lines indented under the first.
pub(crate) fn wrapped(lead: &str, text: &str, width: usize) -> String {
    let indent = " ".repeat(lead.chars().count());
    let mut lines = vec![lead.to_string()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line at least");
        let fresh = line.trim().is_empty() || line.as_str() == lead;
        if !fresh && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(format!("{indent}{word}"));
        } else {
            if !fresh {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines.join("\n")
}

/// A split's figures as one run of text: the loss, the accuracy where the task
/// has one, then the task's figures by name ("0.3012 r2 0.8120 rmse 54.10").
pub(crate) fn figures_text(
    loss: f64,
    accuracy: Option<f64>,
    figures: &gpu_mlp::report::Figures,
) -> String {
    use gpu_mlp::choice::Choice;
    let mut text = format!("{loss:.4}");
    if let Some(a) = accuracy {
        text += &format!(" {:6.2}%", 100.0 * a);
    }
    for (f, v) in figures {
        text += &format!(" {} {v:.4}", f.name());
    }
    text
}
