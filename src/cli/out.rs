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
