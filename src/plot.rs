//! `--plot FILE.png`: train loss, test loss (left axis) and test accuracy (right
//! axis) per epoch, redrawn after every epoch. The font is compiled in (DejaVu
//! Sans, assets/), so no system fonts are needed.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::files::write_atomically;
use crate::train::EpochReport;

pub const WIDTH: u32 = 900;
pub const HEIGHT: u32 = 540;

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        // Cannot fail for this font; if it ever did, text would be left out, not the plot.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// Draws the curves of `history` into a PNG at `path` (written atomically).
pub fn draw_curves(path: &Path, history: &[EpochReport]) -> Result<()> {
    register_font();
    let fail = |e: String| Error::output(path, format!("cannot draw the plot: {e}"));
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let first = history.first().map_or(1, |r| r.epoch) as f64;
        let last = history.last().map_or(1, |r| r.epoch) as f64;
        let x_range = (first - 0.5).min(last - 0.5)..(last + 0.5);
        let max_loss = history
            .iter()
            .flat_map(|r| [Some(r.train_loss), r.val_loss, r.test_loss])
            .flatten()
            .fold(0.0f64, f64::max)
            .max(1e-3)
            * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption("gpu-mlp training", ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .right_y_label_area_size(60)
            .build_cartesian_2d(x_range.clone(), 0.0..max_loss)
            .map_err(|e| fail(e.to_string()))?
            .set_secondary_coord(x_range, 0.0..1.0);
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
            .draw()
            .map_err(|e| fail(e.to_string()))?;
        // A split evaluated only some epochs (the test set, with a validation set)
        // draws the points it has.
        let series = |f: fn(&EpochReport) -> Option<f64>| -> Vec<(f64, f64)> {
            history
                .iter()
                .filter_map(|r| Some((r.epoch as f64, f(r)?)))
                .collect()
        };
        let orange = RGBColor(230, 130, 0);
        for (name, color, points) in [
            ("train loss", BLUE, series(|r| Some(r.train_loss))),
            ("validation loss", orange, series(|r| r.val_loss)),
            ("test loss", RED, series(|r| r.test_loss)),
        ] {
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| fail(e.to_string()))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| fail(e.to_string()))?;
        }
        let (green, purple) = (RGBColor(0, 140, 60), RGBColor(140, 60, 160));
        for (name, color, points) in [
            (
                "validation accuracy (right)",
                purple,
                series(|r| r.val_accuracy),
            ),
            ("test accuracy (right)", green, series(|r| r.test_accuracy)),
        ] {
            if points.is_empty() {
                continue;
            }
            chart
                .draw_secondary_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| fail(e.to_string()))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_secondary_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| fail(e.to_string()))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
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
