//! The image grids a generative run writes: samples from the prior, reconstructions beside
//! their inputs, and interpolations z1 cos t + z2 sin t between two prior draws (which keeps
//! the norm statistics of a standard normal, unlike a straight line).
//!
//! Shapes: codes [N, D]; images [N, P], P = C * H * W of `shape` (CHW; RGB when C = 3).

use std::path::Path;

use rand::{Rng, SeedableRng};

use crate::data::dataset::{ImageShape, Split};
use crate::models::Model;
use crate::train::images::save_image_grid;
use crate::train::session::Compiled;
use crate::{Error, Gpu, Result};

/// Two standard normal draws from a seeded host generator (Box-Muller), for grid codes.
fn normal_pair(rng: &mut impl Rng) -> (f32, f32) {
    let u: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: the log stays finite
    let v: f64 = rng.random::<f64>();
    let r = (-2.0 * u.ln()).sqrt();
    let t = 2.0 * std::f64::consts::PI * v;
    ((r * t.cos()) as f32, (r * t.sin()) as f32)
}

pub const GRID: usize = 10;

/// `n` values of N(0, 1) from `seed`.
pub fn prior(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut z = Vec::with_capacity(n + 1);
    while z.len() < n {
        let (a, b) = normal_pair(&mut rng);
        z.push(a);
        z.push(b);
    }
    z.truncate(n);
    z
}

/// `n` values uniform in [lo, hi) from `seed`.
pub fn uniform(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Decode `codes` ([decode.batch, D]) to images.
fn decode(gpu: &Gpu, decode: &Compiled, codes: &[f32]) -> Result<Vec<f32>> {
    gpu.write(decode.program.buf_named("z")?, codes)?;
    decode.program.step(gpu, 0, &[])?;
    decode.read(gpu, "probs")
}

/// samples.png: GRID x GRID decodes of the model's prior draws; then the model's own code
/// grids if it has them (InfoGAN), else interpolation.png: GRID rows, each from z1 to z2 along
/// z1 cos t + z2 sin t, t in [0, pi/2].
pub fn write_generative(
    gpu: &Gpu,
    dec: &Compiled,
    model: &dyn Model,
    shape: ImageShape,
    dir: &Path,
    seed: u64,
) -> Result<Vec<std::path::PathBuf>> {
    if dec.batch != GRID * GRID {
        return Err(Error::Config(format!(
            "decode graph batch {} is not {}",
            dec.batch,
            GRID * GRID
        )));
    }
    let d = model.latent_dim();
    let samples = decode(gpu, dec, &model.sample_latent(GRID * GRID, seed))?;
    save_image_grid(&dir.join("samples.png"), &samples, shape, GRID)?;
    let mut written = vec![dir.join("samples.png")];
    if let Some(named) = model.code_grids(seed) {
        for (name, mut codes) in named {
            // Up to GRID rows of GRID images; the decode batch is always full.
            let rows = (codes.len() / d).min(GRID * GRID);
            codes.resize(GRID * GRID * d, 0.0);
            let images = decode(gpu, dec, &codes)?;
            let keep = &images[..rows * shape.pixels()];
            let path = dir.join(format!("{name}.png"));
            save_image_grid(&path, keep, shape, GRID)?;
            written.push(path);
        }
        return Ok(written);
    }
    let ends = prior(2 * GRID * d, seed ^ 0x5eed);
    let mut codes = Vec::with_capacity(GRID * GRID * d);
    for row in 0..GRID {
        let (z1, z2) = (
            &ends[2 * row * d..(2 * row + 1) * d],
            &ends[(2 * row + 1) * d..(2 * row + 2) * d],
        );
        for step in 0..GRID {
            let t = std::f32::consts::FRAC_PI_2 * step as f32 / (GRID - 1) as f32;
            codes.extend(z1.iter().zip(z2).map(|(a, b)| a * t.cos() + b * t.sin()));
        }
    }
    let interp = decode(gpu, dec, &codes)?;
    save_image_grid(&dir.join("interpolation.png"), &interp, shape, GRID)?;
    written.push(dir.join("interpolation.png"));
    Ok(written)
}

/// reconstructions.png: rows of GRID test images, each followed by a row of their
/// reconstructions (read from the eval graph after its last batch: the last images).
pub fn write_reconstructions(
    gpu: &Gpu,
    eval: &Compiled,
    split: &Split,
    shape: ImageShape,
    dir: &Path,
) -> Result<()> {
    let p = shape.pixels();
    let probs = eval.read(gpu, "probs")?;
    let first = split.len() - eval.batch; // the last evaluated batch
    let cols = GRID.min(eval.batch); // an evaluation batch under GRID still fills one pair
    let pairs = (eval.batch / cols).min(5);
    let mut tiles = Vec::with_capacity(2 * pairs * cols * p);
    for r in 0..pairs {
        let rows = r * cols..(r + 1) * cols;
        tiles.extend_from_slice(&split.images[(first + rows.start) * p..(first + rows.end) * p]);
        tiles.extend_from_slice(&probs[rows.start * p..rows.end * p]);
    }
    save_image_grid(&dir.join("reconstructions.png"), &tiles, shape, cols)
}
