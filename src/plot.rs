//! `--plot FILE.png`: losses (left axis) and accuracies (right axis) of the
//! training, validation and test sets per epoch, redrawn after every epoch. The font is compiled in (DejaVu
//! Sans, assets/), so no system fonts are needed.

use std::path::Path;
use std::sync::Once;

use plotters::chart::DualCoordChartContext;
use plotters::coord::types::RangedCoordf64;
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
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    render(&mut rgb, history, title).map_err(|e| fail(e.to_string()))?;
    write_atomically(path, &encode_png(&rgb, WIDTH, HEIGHT).map_err(fail)?)
}

/// What drawing can fail with (plotters' errors, boxed).
type Drawn = std::result::Result<(), Box<dyn std::error::Error>>;

/// The losses (left axis) of each split evaluated.
fn loss_curves(history: &[EpochReport]) -> [Curve; 3] {
    [
        curve(history, "train loss", BLUE, |r| Some(r.train_loss)),
        curve(history, "validation loss", RGBColor(230, 130, 0), |r| {
            r.val_loss
        }),
        curve(history, "test loss", RED, |r| r.test_loss),
    ]
}

/// The accuracies (right axis) of each split evaluated.
fn accuracy_curves(history: &[EpochReport]) -> [Curve; 3] {
    let train = RGBColor(90, 140, 230);
    let val = RGBColor(140, 60, 160);
    let test = RGBColor(0, 140, 60);
    [
        curve(history, "train accuracy (right)", train, |r| {
            r.train_accuracy
        }),
        curve(history, "validation accuracy (right)", val, |r| {
            r.val_accuracy
        }),
        curve(history, "test accuracy (right)", test, |r| r.test_accuracy),
    ]
}

/// The chart into `rgb` (WIDTH×HEIGHT): losses on the left axis, accuracies on
/// the right, the best epoch circled.
fn render(rgb: &mut [u8], history: &[EpochReport], title: &str) -> Drawn {
    let (losses, accuracies) = (loss_curves(history), accuracy_curves(history));
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
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
        .build_cartesian_2d(x_range.clone(), loss_range)?
        .set_secondary_coord(x_range, acc_range);
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss")
        .x_labels(history.len().clamp(2, 12))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("accuracy")
        .y_label_formatter(&|y| format!("{:.1}%", 100.0 * y))
        .draw()?;
    draw_all(&mut chart, &losses, &accuracies)?;
    mark_best(&mut chart, history)?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::MiddleRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// The chart's drawing context: epochs across, loss on the left axis and
/// accuracy on the right.
type Chart<'a, 'b> = DualCoordChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<RangedCoordf64, RangedCoordf64>,
    Cartesian2d<RangedCoordf64, RangedCoordf64>,
>;

/// Every curve with points: a line, a dot per epoch and a legend entry.
fn draw_all(chart: &mut Chart, losses: &[Curve], accuracies: &[Curve]) -> Drawn {
    let line = |c: &Curve| LineSeries::new(c.points.clone(), c.color.stroke_width(2));
    let dots = |c: &Curve| {
        let color = c.color;
        c.points
            .clone()
            .into_iter()
            .map(move |p| Circle::new(p, 3, color.filled()))
    };
    for c in losses.iter().filter(|c| !c.points.is_empty()) {
        let color = c.color;
        chart
            .draw_series(line(c))?
            .label(c.name)
            .legend(move |(x, y)| legend_line(x, y, color));
        chart.draw_series(dots(c))?;
    }
    for c in accuracies.iter().filter(|c| !c.points.is_empty()) {
        let color = c.color;
        chart
            .draw_secondary_series(line(c))?
            .label(c.name)
            .legend(move |(x, y)| legend_line(x, y, color));
        chart.draw_secondary_series(dots(c))?;
    }
    Ok(())
}

/// The best epoch (the run's monitor, or the lowest loss) circled on its loss.
fn mark_best(chart: &mut Chart, history: &[EpochReport]) -> Drawn {
    if let Some(best) = best_epoch(history) {
        let loss = best.val_loss.or(best.test_loss).unwrap_or(best.train_loss);
        let mark = (best.epoch as f64, loss);
        chart
            .draw_series([Circle::new(mark, 8, BLACK.stroke_width(2))])?
            .label(format!("best: epoch {}", best.epoch))
            .legend(|(x, y)| Circle::new((x + 10, y), 5, BLACK.stroke_width(2)));
    }
    Ok(())
}

/// A legend entry's line, in the curve's colour.
fn legend_line(x: i32, y: i32, color: RGBColor) -> PathElement<(i32, i32)> {
    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
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
