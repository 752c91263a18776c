//! `--plot FILE.png`: losses (left axis) and accuracies (right axis) of the
//! training, validation and test sets per epoch, redrawn after every epoch. The font is compiled in (DejaVu
//! Sans, assets/), so no system fonts are needed.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::files::write_atomically;
use crate::report::EpochReport;

/// Width of `--plot` images, pixels.
pub const WIDTH: u32 = 900;
/// Height of `--plot` images, pixels.
pub const HEIGHT: u32 = 540;

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        // Cannot fail for this font; if it ever did, text would be left out, not the plot.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// A curve: its legend, colour, and the (epoch, value) points it has.
struct Curve {
    name: &'static str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

fn curve(
    history: &[EpochReport],
    name: &'static str,
    color: RGBColor,
    value: fn(&EpochReport) -> Option<f64>,
) -> Curve {
    let points = history
        .iter()
        .filter_map(|r| Some((r.epoch as f64, value(r)?)))
        .collect();
    Curve {
        name,
        color,
        points,
    }
}

/// `lo..hi` of `values`, widened by 5 % (and to a minimum span) so that the curves
/// fill the plot: a climb from 77 % to 81 % must not look flat.
fn fitted_range(
    values: impl Iterator<Item = f64>,
    floor: f64,
    ceiling: f64,
) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    if !lo.is_finite() {
        return floor..ceiling;
    }
    let pad = ((hi - lo) * 0.05).max(0.005);
    (lo - pad).max(floor)..(hi + pad).min(ceiling)
}

/// The epoch whose model a run would keep: lowest validation loss, else lowest
/// test loss, else the last.
fn best_epoch(history: &[EpochReport]) -> Option<&EpochReport> {
    let by = |f: fn(&EpochReport) -> Option<f64>| {
        history
            .iter()
            .filter(|r| f(r).is_some())
            .min_by(|a, b| f(a).unwrap_or(0.0).total_cmp(&f(b).unwrap_or(0.0)))
    };
    by(|r| r.val_loss)
        .or_else(|| by(|r| r.test_loss))
        .or(history.last())
}

/// Draws the curves of `history` into a PNG at `path` (written atomically): loss
/// (train, validation, test) on the left axis, accuracy on the right, both scaled
/// to the data, the best epoch marked, `title` (the run's network and optimizer)
/// on top.
pub fn draw_curves(path: &Path, history: &[EpochReport], title: &str) -> Result<()> {
    register_font();
    let fail = |e: String| Error::output(path, format!("cannot draw the plot: {e}"));
    let losses = [
        curve(history, "train loss", BLUE, |r| Some(r.train_loss)),
        curve(history, "validation loss", RGBColor(230, 130, 0), |r| {
            r.val_loss
        }),
        curve(history, "test loss", RED, |r| r.test_loss),
    ];
    let accuracies = [
        curve(
            history,
            "train accuracy (right)",
            RGBColor(90, 140, 230),
            |r| Some(r.train_accuracy),
        ),
        curve(
            history,
            "validation accuracy (right)",
            RGBColor(140, 60, 160),
            |r| r.val_accuracy,
        ),
        curve(
            history,
            "test accuracy (right)",
            RGBColor(0, 140, 60),
            |r| r.test_accuracy,
        ),
    ];
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let first = history.first().map_or(1, |r| r.epoch) as f64;
        let last = history.last().map_or(1, |r| r.epoch) as f64;
        let x_range = (first - 0.5)..(last + 0.5);
        let all = |curves: &[Curve]| {
            curves
                .iter()
                .flat_map(|c| c.points.iter().map(|p| p.1))
                .collect::<Vec<_>>()
        };
        let loss_range = fitted_range(all(&losses).into_iter(), 0.0, f64::INFINITY);
        let acc_range = fitted_range(all(&accuracies).into_iter(), 0.0, 1.0);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .right_y_label_area_size(60)
            .build_cartesian_2d(x_range.clone(), loss_range)
            .map_err(|e| fail(e.to_string()))?
            .set_secondary_coord(x_range, acc_range);
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("loss")
            .x_labels(history.len().clamp(2, 12))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        chart
            .configure_secondary_axes()
            .y_desc("accuracy")
            .y_label_formatter(&|y| format!("{:.1}%", 100.0 * y))
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        for c in losses.iter().filter(|c| !c.points.is_empty()) {
            let color = c.color;
            chart
                .draw_series(LineSeries::new(c.points.clone(), color.stroke_width(2)))
                .map_err(|e| fail(e.to_string()))?
                .label(c.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(c.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| fail(e.to_string()))?;
        }
        for c in accuracies.iter().filter(|c| !c.points.is_empty()) {
            let color = c.color;
            chart
                .draw_secondary_series(LineSeries::new(c.points.clone(), color.stroke_width(2)))
                .map_err(|e| fail(e.to_string()))?
                .label(c.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_secondary_series(c.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| fail(e.to_string()))?;
        }
        if let Some(best) = best_epoch(history) {
            let loss = best.val_loss.or(best.test_loss).unwrap_or(best.train_loss);
            let mark = (best.epoch as f64, loss);
            chart
                .draw_series([Circle::new(mark, 8, BLACK.stroke_width(2))])
                .map_err(|e| fail(e.to_string()))?
                .label(format!("best: epoch {}", best.epoch))
                .legend(|(x, y)| Circle::new((x + 10, y), 5, BLACK.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::MiddleRight)
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    write_atomically(path, &encode_png(&rgb, WIDTH, HEIGHT).map_err(fail)?)
}

/// RGB8 pixels → PNG bytes.
fn encode_png(rgb: &[u8], width: u32, height: u32) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(rgb).map_err(|e| e.to_string())?;
    }
    Ok(out)
}
