//! f64 references of every conv entry point, written as direct loops from the definitions
//! (scatters where the definition scatters), independent of the GPU's GEMM formulation.
//! Accumulation (`old + new`) is left to the caller.

use super::{Act, Conv2dSpec, ConvTranspose2dSpec};

pub fn act(a: Act, v: f64) -> f64 {
    match a {
        Act::None => v,
        Act::Relu => v.max(0.0),
        Act::LeakyRelu(alpha) => {
            if v >= 0.0 {
                v
            } else {
                alpha as f64 * v
            }
        }
    }
}

/// Calls `f(ih, iw, oh, ow, kh, kw)` for every input pixel and tap that meets output pixel
/// (oh, ow) of a convolution (the pairs with ih = oh S - P + kh inside the input).
fn taps(
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    (kh, kw): (usize, usize),
    s: usize,
    p: usize,
    mut f: impl FnMut(usize, usize, usize, usize, usize, usize),
) {
    for oy in 0..oh {
        for ky in 0..kh {
            let iy = (oy * s + ky) as isize - p as isize;
            if iy < 0 || iy >= h as isize {
                continue;
            }
            for ox in 0..ow {
                for kx in 0..kw {
                    let ix = (ox * s + kx) as isize - p as isize;
                    if ix >= 0 && ix < w as isize {
                        f(iy as usize, ix as usize, oy, ox, ky, kx);
                    }
                }
            }
        }
    }
}

/// y = act(conv2d(x, w) + bias).
pub fn conv2d(spec: &Conv2dSpec, x: &[f64], w: &[f64], bias: Option<&[f64]>, a: Act) -> Vec<f64> {
    let Conv2dSpec {
        n,
        cin,
        h,
        w: wd,
        cout,
        kh,
        kw,
        ..
    } = *spec;
    let (oh, ow) = (spec.oh(), spec.ow());
    let mut y = vec![0.0; spec.y_len()];
    for b in 0..n {
        for co in 0..cout {
            let yo = (b * cout + co) * oh * ow;
            for ci in 0..cin {
                let xo = (b * cin + ci) * h * wd;
                let wo = (co * cin + ci) * kh * kw;
                taps(
                    (h, wd),
                    (oh, ow),
                    (kh, kw),
                    spec.stride,
                    spec.pad,
                    |iy, ix, oy, ox, ky, kx| {
                        y[yo + oy * ow + ox] += x[xo + iy * wd + ix] * w[wo + ky * kw + kx];
                    },
                );
            }
            for v in &mut y[yo..yo + oh * ow] {
                *v = act(a, *v + bias.map_or(0.0, |bb| bb[co]));
            }
        }
    }
    y
}

/// dx of conv2d: every output gradient scattered back through the taps.
pub fn conv2d_backward_input(spec: &Conv2dSpec, dy: &[f64], w: &[f64]) -> Vec<f64> {
    let Conv2dSpec {
        n,
        cin,
        h,
        w: wd,
        cout,
        kh,
        kw,
        ..
    } = *spec;
    let (oh, ow) = (spec.oh(), spec.ow());
    let mut dx = vec![0.0; spec.x_len()];
    for b in 0..n {
        for co in 0..cout {
            let yo = (b * cout + co) * oh * ow;
            for ci in 0..cin {
                let xo = (b * cin + ci) * h * wd;
                let wo = (co * cin + ci) * kh * kw;
                taps(
                    (h, wd),
                    (oh, ow),
                    (kh, kw),
                    spec.stride,
                    spec.pad,
                    |iy, ix, oy, ox, ky, kx| {
                        dx[xo + iy * wd + ix] += dy[yo + oy * ow + ox] * w[wo + ky * kw + kx];
                    },
                );
            }
        }
    }
    dx
}

/// dw of conv2d: sum over n, oh, ow of dy * the input pixel under each tap.
pub fn conv2d_backward_weight(spec: &Conv2dSpec, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let Conv2dSpec {
        n,
        cin,
        h,
        w: wd,
        cout,
        kh,
        kw,
        ..
    } = *spec;
    let (oh, ow) = (spec.oh(), spec.ow());
    let mut dw = vec![0.0; spec.w_len()];
    for b in 0..n {
        for co in 0..cout {
            let yo = (b * cout + co) * oh * ow;
            for ci in 0..cin {
                let xo = (b * cin + ci) * h * wd;
                let wo = (co * cin + ci) * kh * kw;
                taps(
                    (h, wd),
                    (oh, ow),
                    (kh, kw),
                    spec.stride,
                    spec.pad,
                    |iy, ix, oy, ox, ky, kx| {
                        dw[wo + ky * kw + kx] += dy[yo + oy * ow + ox] * x[xo + iy * wd + ix];
                    },
                );
            }
        }
    }
    dw
}

/// db[c] = sum of dy [n, channels, plane] over n and the plane.
fn bias_grad(n: usize, channels: usize, plane: usize, dy: &[f64]) -> Vec<f64> {
    let mut db = vec![0.0; channels];
    for b in 0..n {
        for (c, d) in db.iter_mut().enumerate() {
            let o = (b * channels + c) * plane;
            *d += dy[o..o + plane].iter().sum::<f64>();
        }
    }
    db
}

pub fn conv2d_backward_bias(spec: &Conv2dSpec, dy: &[f64]) -> Vec<f64> {
    bias_grad(spec.n, spec.cout, spec.oh() * spec.ow(), dy)
}

/// Calls `f(oy, ox, iy, ix, ky, kx)` for every output pixel (oy, ox) = (iy S - P + ky, ...)
/// of a transposed convolution that lands inside the output.
fn scatter_taps(
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    (kh, kw): (usize, usize),
    s: usize,
    p: usize,
    mut f: impl FnMut(usize, usize, usize, usize, usize, usize),
) {
    for iy in 0..h {
        for ky in 0..kh {
            let oy = (iy * s + ky) as isize - p as isize;
            if oy < 0 || oy >= oh as isize {
                continue;
            }
            for ix in 0..w {
                for kx in 0..kw {
                    let ox = (ix * s + kx) as isize - p as isize;
                    if ox >= 0 && ox < ow as isize {
                        f(oy as usize, ox as usize, iy, ix, ky, kx);
                    }
                }
            }
        }
    }
}

/// Every (x, y, w) flat-index triple where conv_transpose2d scatters input pixel x through
/// weight tap w to output pixel y: the one loop nest the transposed twins share.
fn transpose_taps(spec: &ConvTranspose2dSpec, mut f: impl FnMut(usize, usize, usize)) {
    let ConvTranspose2dSpec {
        n,
        cin,
        h,
        w: wd,
        cout,
        kh,
        kw,
        ..
    } = *spec;
    let (oh, ow) = (spec.oh(), spec.ow());
    for b in 0..n {
        for co in 0..cout {
            let yo = (b * cout + co) * oh * ow;
            for ci in 0..cin {
                let xo = (b * cin + ci) * h * wd;
                let wo = (ci * cout + co) * kh * kw;
                let (hw, ohw, k) = ((h, wd), (oh, ow), (kh, kw));
                scatter_taps(
                    hw,
                    ohw,
                    k,
                    spec.stride,
                    spec.pad,
                    |oy, ox, iy, ix, ky, kx| {
                        f(xo + iy * wd + ix, yo + oy * ow + ox, wo + ky * kw + kx)
                    },
                );
            }
        }
    }
}

/// y = act(conv_transpose2d(x, w) + bias), from the definition: each input pixel scattered
/// through every tap.
pub fn conv_transpose2d(
    spec: &ConvTranspose2dSpec,
    x: &[f64],
    w: &[f64],
    bias: Option<&[f64]>,
    a: Act,
) -> Vec<f64> {
    let ConvTranspose2dSpec {
        n,
        cin,
        h,
        w: wd,
        cout,
        kh,
        kw,
        ..
    } = *spec;
    let (oh, ow) = (spec.oh(), spec.ow());
    let mut y = vec![0.0; spec.y_len()];
    for b in 0..n {
        for co in 0..cout {
            let yo = (b * cout + co) * oh * ow;
            for ci in 0..cin {
                let xo = (b * cin + ci) * h * wd;
                let wo = (ci * cout + co) * kh * kw;
                let dims = ((h, wd), (oh, ow), (kh, kw));
                scatter_taps(
                    dims.0,
                    dims.1,
                    dims.2,
                    spec.stride,
                    spec.pad,
                    |oy, ox, iy, ix, ky, kx| {
                        y[yo + oy * ow + ox] += x[xo + iy * wd + ix] * w[wo + ky * kw + kx];
                    },
                );
            }
            for v in &mut y[yo..yo + oh * ow] {
                *v = act(a, *v + bias.map_or(0.0, |bb| bb[co]));
            }
        }
    }
    y
}

/// dx of conv_transpose2d: dx[n, ci, iy, ix] = sum of dy at the pixels x scattered to, times
/// the tap's weight.
pub fn conv_transpose2d_backward_input(
    spec: &ConvTranspose2dSpec,
    dy: &[f64],
    w: &[f64],
) -> Vec<f64> {
    let mut dx = vec![0.0; spec.x_len()];
    transpose_taps(spec, |xi, yi, wi| dx[xi] += dy[yi] * w[wi]);
    dx
}

/// dw of conv_transpose2d: dw[ci, co, ky, kx] = sum over n, iy, ix of x * dy at the pixel the
/// tap scattered to.
pub fn conv_transpose2d_backward_weight(
    spec: &ConvTranspose2dSpec,
    x: &[f64],
    dy: &[f64],
) -> Vec<f64> {
    let mut dw = vec![0.0; spec.w_len()];
    transpose_taps(spec, |xi, yi, wi| dw[wi] += x[xi] * dy[yi]);
    dw
}

pub fn conv_transpose2d_backward_bias(spec: &ConvTranspose2dSpec, dy: &[f64]) -> Vec<f64> {
    bias_grad(spec.n, spec.cout, spec.oh() * spec.ow(), dy)
}
