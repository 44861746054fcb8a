//! PNG output: image grids (samples, reconstructions, interpolations, retrievals) and a
//! small line plot of the losses, written atomically like checkpoints.
//!
//! Shapes: images [n, C * H * W] f32 in [0, 1] (CHW; C = 1 gray or 3 RGB), laid out row by
//! row in a grid of `cols` columns.

use std::path::Path;

use crate::data::dataset::ImageShape;
use crate::train::checkpoint::write_atomic;
use crate::{Error, Result};

fn encode(width: usize, height: usize, color: png::ColorType, pixels: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width as u32, height as u32);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    let err = |e: png::EncodingError| Error::Data(format!("encoding a PNG: {e}"));
    let mut w = enc.write_header().map_err(err)?;
    w.write_image_data(pixels).map_err(err)?;
    w.finish().map_err(err)?;
    Ok(out)
}

/// Write `images` as a grayscale grid with a 2-pixel dark border around each tile.
pub fn save_grid(path: &Path, images: &[f32], h: usize, w: usize, cols: usize) -> Result<()> {
    let shape = ImageShape {
        channels: 1,
        height: h,
        width: w,
    };
    save_image_grid(path, images, shape, cols)
}

/// Write `images` ([n, C * H * W], each CHW) as a grid with a 2-pixel dark border around each
/// tile: grayscale for 1 channel, RGB for 3 (planes R, G, B).
pub fn save_image_grid(path: &Path, images: &[f32], shape: ImageShape, cols: usize) -> Result<()> {
    let (c, h, w) = (shape.channels, shape.height, shape.width);
    let color = match c {
        1 => png::ColorType::Grayscale,
        3 => png::ColorType::Rgb,
        _ => {
            return Err(Error::Shape(format!(
                "images of {c} channels cannot be drawn: 1 (gray) or 3 (RGB) expected"
            )))
        }
    };
    let n = images.len() / shape.pixels().max(1);
    if n == 0 || cols == 0 || images.len() != n * shape.pixels() {
        return Err(Error::Shape(format!(
            "{} values are not whole {shape} images",
            images.len()
        )));
    }
    let rows = n.div_ceil(cols);
    let pad = 2;
    let (gw, gh) = (cols * (w + pad) + pad, rows * (h + pad) + pad);
    let mut px = vec![32u8; gw * gh * c];
    for (k, img) in images.chunks_exact(shape.pixels()).enumerate() {
        let (oy, ox) = (pad + (k / cols) * (h + pad), pad + (k % cols) * (w + pad));
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    let v = img[(ch * h + y) * w + x];
                    // NaN maps to 0 rather than poisoning the cast.
                    px[((oy + y) * gw + ox + x) * c + ch] =
                        (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            }
        }
    }
    write_atomic(path, &encode(gw, gh, color, &px)?)
}

/// Glyphs 3 wide and 5 high for tick labels: digits, '.', '-', 'e'.
fn glyph(c: char) -> [u8; 5] {
    match c {
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
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        'e' => [0, 7, 7, 4, 7],
        _ => [0; 5],
    }
}

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn set(&mut self, x: i64, y: i64, rgb: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            let i = 3 * (y as usize * self.w + x as usize);
            self.px[i..i + 3].copy_from_slice(&rgb);
        }
    }
    fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), rgb: [u8; 3]) {
        let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
            self.set(x.round() as i64, y.round() as i64, rgb);
            self.set(x.round() as i64, y.round() as i64 + 1, rgb);
        }
    }
    fn text(&mut self, x: i64, y: i64, s: &str, rgb: [u8; 3]) {
        for (k, c) in s.chars().enumerate() {
            for (row, bits) in glyph(c).iter().enumerate() {
                for col in 0..3 {
                    if bits & (4 >> col) != 0 {
                        for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                            self.set(
                                x + 8 * k as i64 + 2 * col + dx,
                                y + 2 * row as i64 + dy,
                                rgb,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The colour of series k: blue, orange, green, red, purple (matplotlib's first five).
pub const SERIES_COLORS: [[u8; 3]; 5] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
];

/// A line plot of `series` (x, y points each) with min/max tick labels on both axes.
pub fn save_plot(path: &Path, series: &[Vec<(f64, f64)>]) -> Result<()> {
    let pts: Vec<(f64, f64)> = series
        .iter()
        .flatten()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    if pts.is_empty() {
        return Err(Error::Data("nothing to plot: no finite points".into()));
    }
    let (w, h, left, bottom, top, right) = (640usize, 400usize, 90.0, 40.0, 20.0, 20.0);
    let mut c = Canvas {
        w,
        h,
        px: vec![255; w * h * 3],
    };
    let min = |f: fn(&(f64, f64)) -> f64| pts.iter().map(f).fold(f64::INFINITY, f64::min);
    let max = |f: fn(&(f64, f64)) -> f64| pts.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1, y0, y1) = (min(|p| p.0), max(|p| p.0), min(|p| p.1), max(|p| p.1));
    let (x1, y1) = (
        if x1 > x0 { x1 } else { x0 + 1.0 },
        if y1 > y0 { y1 } else { y0 + 1.0 },
    );
    let sx = |x: f64| left + (x - x0) / (x1 - x0) * (w as f64 - left - right);
    let sy = |y: f64| h as f64 - bottom - (y - y0) / (y1 - y0) * (h as f64 - bottom - top);
    let axis = [0, 0, 0];
    c.line((left, top), (left, h as f64 - bottom), axis);
    c.line(
        (left, h as f64 - bottom),
        (w as f64 - right, h as f64 - bottom),
        axis,
    );
    c.text(4, sy(y1) as i64 - 5, &format!("{y1:.4}"), axis);
    c.text(4, sy(y0) as i64 - 5, &format!("{y0:.4}"), axis);
    c.text(
        left as i64,
        h as i64 - bottom as i64 + 8,
        &format!("{x0}"),
        axis,
    );
    let xl = format!("{x1}");
    c.text(
        w as i64 - right as i64 - 8 * xl.len() as i64,
        h as i64 - bottom as i64 + 8,
        &xl,
        axis,
    );
    for (k, s) in series.iter().enumerate() {
        let color = SERIES_COLORS[k % SERIES_COLORS.len()];
        let s: Vec<&(f64, f64)> = s
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        for p in s.windows(2) {
            c.line((sx(p[0].0), sy(p[0].1)), (sx(p[1].0), sy(p[1].1)), color);
        }
        if let [only] = s[..] {
            c.line(
                (sx(only.0) - 2.0, sy(only.1)),
                (sx(only.0) + 2.0, sy(only.1)),
                color,
            );
        }
    }
    write_atomic(path, &encode(w, h, png::ColorType::Rgb, &c.px)?)
}
