//! A small PNG plotter (no fonts, no system libraries): two panels —
//! throughput and p99 latency against concurrency — with a built-in 3×5
//! pixel font for labels.

use std::path::Path;

use anyhow::Result;

pub struct Series {
    pub label: String,
    pub color: [u8; 3],
    /// One value per x position.
    pub values: Vec<f64>,
}

pub struct Panel {
    pub title: String,
    pub series: Vec<Series>,
}

const W: usize = 1100;
const H: usize = 480;
const SCALE: usize = 2;

struct Canvas {
    px: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        Canvas {
            px: vec![255; W * H * 3],
        }
    }

    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < W && (y as usize) < H {
            let i = (y as usize * W + x as usize) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    fn rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: [u8; 3]) {
        for dy in 0..h {
            for dx in 0..w {
                self.set(x + dx, y + dy, c);
            }
        }
    }

    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3], thick: i64) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
        for s in 0..=steps {
            let x = x0 + (x1 - x0) * s / steps;
            let y = y0 + (y1 - y0) * s / steps;
            self.rect(x - thick / 2, y - thick / 2, thick, thick, c);
        }
    }

    fn text(&mut self, x: i64, y: i64, text: &str, c: [u8; 3]) {
        let s = SCALE as i64;
        for (i, ch) in text.chars().enumerate() {
            let rows = glyph(ch.to_ascii_uppercase());
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..3 {
                    if bits & (0b100 >> col) != 0 {
                        self.rect(x + (i as i64 * 4 + col) * s, y + r as i64 * s, s, s, c);
                    }
                }
            }
        }
    }
}

/// Writes a two-panel plot; `xs` label the x positions (client counts).
pub fn write(path: &Path, xs: &[usize], panels: &[Panel]) -> Result<()> {
    let mut c = Canvas::new();
    let panel_w = W / panels.len().max(1);
    for (p, panel) in panels.iter().enumerate() {
        draw_panel(&mut c, (p * panel_w) as i64, panel_w as i64, xs, panel);
    }
    let file = std::fs::File::create(path)?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), W as u32, H as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&c.px)?;
    Ok(())
}

fn draw_panel(c: &mut Canvas, left: i64, width: i64, xs: &[usize], panel: &Panel) {
    let (x0, y0, x1, y1) = (left + 80, 60, left + width - 30, H as i64 - 90);
    let black = [0, 0, 0];
    let grey = [220, 220, 220];
    c.text(x0, 20, &panel.title, black);
    let max = panel
        .series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0_f64, f64::max)
        .max(1e-9)
        * 1.1;
    for g in 0..=4 {
        let y = y1 - (y1 - y0) * g / 4;
        c.line((x0, y), (x1, y), grey, 1);
        c.text(left + 4, y - 5, &format_value(max * g as f64 / 4.0), black);
    }
    c.line((x0, y0), (x0, y1), black, 2);
    c.line((x0, y1), (x1, y1), black, 2);
    let xpos = |i: usize| x0 + 30 + (x1 - x0 - 60) * i as i64 / (xs.len().max(2) - 1) as i64;
    for (i, x) in xs.iter().enumerate() {
        c.text(xpos(i) - 6, y1 + 10, &x.to_string(), black);
    }
    c.text(x0 + (x1 - x0) / 2 - 40, y1 + 30, "CLIENTS", black);
    for (k, s) in panel.series.iter().enumerate() {
        let point = |i: usize, v: f64| (xpos(i), y1 - ((y1 - y0) as f64 * v / max) as i64);
        for i in 1..s.values.len() {
            c.line(point(i - 1, s.values[i - 1]), point(i, s.values[i]), s.color, 3);
        }
        for (i, v) in s.values.iter().enumerate() {
            let (x, y) = point(i, *v);
            c.rect(x - 4, y - 4, 9, 9, s.color);
        }
        let ly = H as i64 - 40 + (k as i64 % 2) * 16;
        let lx = x0 + (k as i64 / 2) * 230;
        c.rect(lx, ly, 14, 10, s.color);
        c.text(lx + 20, ly, &s.label, black);
    }
}

fn format_value(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}K", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn glyph(ch: char) -> [u8; 5] {
    match ch {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        'A' => [2, 5, 7, 5, 5],
        'B' => [6, 5, 6, 5, 6],
        'C' => [3, 4, 4, 4, 3],
        'D' => [6, 5, 5, 5, 6],
        'E' => [7, 4, 6, 4, 7],
        'F' => [7, 4, 6, 4, 4],
        'G' => [3, 4, 5, 5, 3],
        'H' => [5, 5, 7, 5, 5],
        'I' => [7, 2, 2, 2, 7],
        'J' => [1, 1, 1, 5, 2],
        'K' => [5, 5, 6, 5, 5],
        'L' => [4, 4, 4, 4, 7],
        'M' => [5, 7, 7, 5, 5],
        'N' => [6, 5, 5, 5, 5],
        'O' => [2, 5, 5, 5, 2],
        'P' => [6, 5, 6, 4, 4],
        'Q' => [2, 5, 5, 6, 3],
        'R' => [6, 5, 6, 5, 5],
        'S' => [3, 4, 2, 1, 6],
        'T' => [7, 2, 2, 2, 2],
        'U' => [5, 5, 5, 5, 7],
        'V' => [5, 5, 5, 5, 2],
        'W' => [5, 5, 7, 7, 5],
        'X' => [5, 5, 2, 5, 5],
        'Y' => [5, 5, 2, 2, 2],
        'Z' => [7, 1, 2, 4, 7],
        '.' => [0, 0, 0, 0, 2],
        '/' => [1, 1, 2, 4, 4],
        '-' => [0, 0, 7, 0, 0],
        ':' => [0, 2, 0, 2, 0],
        '(' => [2, 4, 4, 4, 2],
        ')' => [2, 1, 1, 1, 2],
        '%' => [5, 1, 2, 4, 5],
        '_' => [0, 0, 0, 0, 7],
        _ => [0, 0, 0, 0, 0],
    }
}
