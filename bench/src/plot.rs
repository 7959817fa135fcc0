//! The benchmark plot, drawn with `plotters` as SVG (no fonts or system
//! libraries needed: the viewer renders the text). Two panels over the
//! number of concurrent clients: throughput of Tally and of the raw-SQL
//! ceilings, and Tally's p99 latency. Axes carry their units; each panel
//! has a legend.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

pub struct Series {
    pub label: String,
    pub color: (u8, u8, u8),
    /// One value per x position.
    pub values: Vec<f64>,
}

pub struct Panel {
    pub title: String,
    /// The y axis' description, with its unit.
    pub y_label: String,
    pub series: Vec<Series>,
}

const SIZE: (u32, u32) = (1200, 520);

/// Writes `panels` side by side as one SVG at `path`; `xs` are the client counts.
pub fn write(path: &Path, xs: &[usize], panels: &[Panel]) -> Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("plot: {e}"))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (area, panel) in areas.iter().zip(panels) {
        draw(area, xs, panel)?;
    }
    root.present().map_err(|e| anyhow!("plot: {e}"))
}

fn draw(area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, xs: &[usize], panel: &Panel) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<std::io::Error>| anyhow!("plot: {e}");
    let top = panel
        .series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1.0)
        * 1.15;
    // Client counts grow by powers (1, 8, 32, 128): their positions are even.
    let n = xs.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.3f64..(n as f64 - 0.7), 0.0..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round() as usize;
            match ((x - i as f64).abs() < 1e-6, xs.get(i)) {
                (true, Some(c)) => c.to_string(),
                _ => String::new(),
            }
        })
        .x_desc("concurrent clients")
        .y_desc(panel.y_label.as_str())
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(err)?;
    for s in &panel.series {
        let color = RGBColor(s.color.0, s.color.1, s.color.2);
        let points: Vec<(f64, f64)> = s.values.iter().enumerate().map(|(i, v)| (i as f64, *v)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        chart
            .draw_series(points.into_iter().map(|p| Circle::new(p, 4, color.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}
