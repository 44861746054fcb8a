//! Layout family vs its f64 twin: concat/split along features, spatial broadcast and its sum,
//! feature map + broadcast vector concat and its backward; gradient checks of every backward
//! rule, the accumulate convention, and shape errors.
//!
//! Each family of shapes has one of size 1, awkward ones (not multiples of the 64-thread
//! workgroup) and a BIG one needing more than 65,535 workgroups in every entry point.
mod common;
use common::*;
use shadergrad::kernels::layout::{self, cpu, Features, MapVec, Spatial};
use shadergrad::{Buf, DType, Dispatch, Error, Gpu, Result};

/// 65,535 workgroups of 64 threads.
const GRID_LIMIT: usize = 65_535 * 64;

fn zeros(gpu: &Gpu, n: usize) -> Buf {
    gpu.zeros(n, DType::F32).unwrap()
}

fn put(gpu: &Gpu, n: usize, rng: &mut rand::rngs::StdRng) -> (Buf, Vec<f32>) {
    let v = uniform(rng, n, -1.0, 1.0);
    (gpu.upload(&v).unwrap(), v)
}

fn get(gpu: &Gpu, b: &Buf) -> Vec<f32> {
    gpu.download(b).unwrap()
}

fn run(gpu: &Gpu, d: Result<Dispatch>) {
    gpu.run(&[&d.unwrap()]).unwrap();
}

/// Compare with an error allowance of rtol * scale[i]. For copies scale = |want| (exact);
/// for sums and accumulations scale = the sum of the magnitudes of what was added: f32
/// rounding of a sum is bounded relative to its terms, and the terms may cancel.
fn assert_close_scaled(what: &str, got: &[f32], want: &[f64], scale: &[f64], rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for i in 0..got.len() {
        let err = (got[i] as f64 - want[i]).abs();
        assert!(
            err <= rtol * scale[i],
            "{what}: element {i} is {} but the f64 reference says {} (allowed {})",
            got[i],
            want[i],
            rtol * scale[i]
        );
    }
}

/// Check a backward output that was written (old contents NaN) or accumulated (old random):
/// `new` is the reference gradient, `new_abs` the same rule applied to |dy| (its error scale).
fn check_grad(
    gpu: &Gpu,
    what: &str,
    buf: &Buf,
    old: &[f32],
    acc: bool,
    new: &[f64],
    new_abs: &[f64],
) {
    let got = get(gpu, buf);
    let (want, scale): (Vec<f64>, Vec<f64>) = (0..new.len())
        .map(|i| {
            let o = if acc { old[i] as f64 } else { 0.0 };
            (o + new[i], o.abs() + new_abs[i])
        })
        .unzip();
    assert_close_scaled(
        &format!("{what} accumulate={acc}"),
        &got,
        &want,
        &scale,
        1e-5,
    );
}

/// Fill `buf` with NaN (to be overwritten) or random old values (to be accumulated into).
fn prime(gpu: &Gpu, buf: &Buf, acc: bool, rng: &mut rand::rngs::StdRng) -> Vec<f32> {
    let v = if acc {
        uniform(rng, buf.len(), -1.0, 1.0)
    } else {
        vec![f32::NAN; buf.len()]
    };
    gpu.write(buf, &v).unwrap();
    v
}

fn abs(v: &[f32]) -> Vec<f64> {
    v.iter().map(|x| x.abs() as f64).collect()
}

#[test]
fn concat_and_split_features_match_reference() {
    let gpu = gpu();
    let mut rng = rng();
    let big = Features {
        rows: 65_536,
        fa: 40,
        fb: 25,
    };
    assert!(big.rows * (big.fa + big.fb) > GRID_LIMIT);
    let shapes = [
        Features {
            rows: 1,
            fa: 1,
            fb: 1,
        },
        Features {
            rows: 7,
            fa: 13,
            fb: 5,
        },
        Features {
            rows: 33,
            fa: 100,
            fb: 27,
        },
        Features {
            rows: 3,
            fa: 0,
            fb: 9,
        },
        big,
    ];
    for s in shapes {
        let (na, nb, ny) = (s.rows * s.fa, s.rows * s.fb, s.rows * (s.fa + s.fb));
        let what = format!("{s:?}");
        let ((ab, a), (bb, b)) = (put(gpu, na, &mut rng), put(gpu, nb, &mut rng));
        let yb = zeros(gpu, ny);
        run(gpu, layout::concat_features(gpu, s, &ab, &bb, &yb));
        let want = cpu::concat_features(s, &to_f64(&a), &to_f64(&b));
        assert_close(&format!("{what} concat"), &get(gpu, &yb), &want, 0.0, 0.0);

        let (dyb, dy) = put(gpu, ny, &mut rng);
        let (da, db) = cpu::split_features(s, &to_f64(&dy));
        let (da_abs, db_abs) = cpu::split_features(s, &abs(&dy));
        for acc in [[false, true], [true, false]] {
            let (old_a, old_b) = (
                prime(gpu, &ab, acc[0], &mut rng),
                prime(gpu, &bb, acc[1], &mut rng),
            );
            run(gpu, layout::split_features(gpu, s, &dyb, &ab, &bb, acc));
            check_grad(
                gpu,
                &format!("{what} da"),
                &ab,
                &old_a,
                acc[0],
                &da,
                &da_abs,
            );
            check_grad(
                gpu,
                &format!("{what} db"),
                &bb,
                &old_b,
                acc[1],
                &db,
                &db_abs,
            );
        }
    }
}

#[test]
fn spatial_broadcast_and_its_sum_match_reference() {
    let gpu = gpu();
    let mut rng = rng();
    // BIG: N*D threads in the backward exceed the grid limit; the forward has twice as many.
    let big = Spatial {
        n: 65_536,
        d: 64,
        hw: 2,
    };
    assert!(big.n * big.d > GRID_LIMIT);
    let shapes = [
        Spatial { n: 1, d: 1, hw: 1 },
        Spatial { n: 3, d: 5, hw: 7 },
        Spatial {
            n: 10,
            d: 13,
            hw: 49,
        },
        Spatial {
            n: 2,
            d: 3,
            hw: 1000,
        },
        big,
    ];
    for s in shapes {
        let what = format!("{s:?}");
        let (zb, z) = put(gpu, s.n * s.d, &mut rng);
        let yb = zeros(gpu, s.n * s.d * s.hw);
        run(gpu, layout::broadcast_spatial(gpu, s, &zb, &yb));
        let want = cpu::broadcast_spatial(s, &to_f64(&z));
        assert_close(
            &format!("{what} broadcast"),
            &get(gpu, &yb),
            &want,
            0.0,
            0.0,
        );

        let (dyb, dy) = put(gpu, yb.len(), &mut rng);
        let dz = cpu::broadcast_spatial_backward(s, &to_f64(&dy));
        let dz_abs = cpu::broadcast_spatial_backward(s, &abs(&dy));
        for acc in [false, true] {
            let old = prime(gpu, &zb, acc, &mut rng);
            run(
                gpu,
                layout::broadcast_spatial_backward(gpu, s, &dyb, &zb, acc),
            );
            check_grad(gpu, &format!("{what} dz"), &zb, &old, acc, &dz, &dz_abs);
        }
    }
}

#[test]
fn map_vec_concat_and_backward_match_reference() {
    let gpu = gpu();
    let mut rng = rng();
    // BIG: backward threads N*C*HW + N*D exceed the grid limit; the forward has more.
    let big = MapVec {
        n: 8192,
        c: 8,
        d: 8,
        hw: 64,
    };
    assert!(big.n * big.c * big.hw + big.n * big.d > GRID_LIMIT);
    let shapes = [
        MapVec {
            n: 1,
            c: 1,
            d: 1,
            hw: 1,
        },
        MapVec {
            n: 3,
            c: 5,
            d: 4,
            hw: 49,
        },
        MapVec {
            n: 8,
            c: 16,
            d: 7,
            hw: 9,
        },
        MapVec {
            n: 2,
            c: 3,
            d: 64,
            hw: 1,
        },
        big,
    ];
    for s in shapes {
        let what = format!("{s:?}");
        let (nm, nv, ny) = (s.n * s.c * s.hw, s.n * s.d, s.n * (s.c + s.d) * s.hw);
        let ((mb, m), (vb, v)) = (put(gpu, nm, &mut rng), put(gpu, nv, &mut rng));
        let yb = zeros(gpu, ny);
        run(gpu, layout::concat_map_vec(gpu, s, &mb, &vb, &yb));
        let want = cpu::concat_map_vec(s, &to_f64(&m), &to_f64(&v));
        assert_close(&format!("{what} concat"), &get(gpu, &yb), &want, 0.0, 0.0);

        let (dyb, dy) = put(gpu, ny, &mut rng);
        let (dm, dv) = cpu::concat_map_vec_backward(s, &to_f64(&dy));
        let (dm_abs, dv_abs) = cpu::concat_map_vec_backward(s, &abs(&dy));
        for acc in [[false, true], [true, false]] {
            let (old_m, old_v) = (
                prime(gpu, &mb, acc[0], &mut rng),
                prime(gpu, &vb, acc[1], &mut rng),
            );
            run(
                gpu,
                layout::concat_map_vec_backward(gpu, s, &dyb, &mb, &vb, acc),
            );
            check_grad(
                gpu,
                &format!("{what} dmap"),
                &mb,
                &old_m,
                acc[0],
                &dm,
                &dm_abs,
            );
            check_grad(
                gpu,
                &format!("{what} dvec"),
                &vb,
                &old_v,
                acc[1],
                &dv,
                &dv_abs,
            );
        }
    }
}

/// Every backward of the f64 twin against central differences of its forward.
#[test]
fn layout_backward_rules_pass_gradcheck() {
    let mut rng = rng();
    let f = Features {
        rows: 3,
        fa: 4,
        fb: 2,
    };
    let (a, b) = (
        to_f64(&uniform(&mut rng, 12, -1.0, 1.0)),
        to_f64(&uniform(&mut rng, 6, -1.0, 1.0)),
    );
    let dy = to_f64(&uniform(&mut rng, 18, -1.0, 1.0));
    let (da, db) = cpu::split_features(f, &dy);
    gradcheck(
        "split da",
        |a| cpu::concat_features(f, a, &b),
        &a,
        &dy,
        &da,
        1e-6,
        1e-6,
    );
    gradcheck(
        "split db",
        |b| cpu::concat_features(f, &a, b),
        &b,
        &dy,
        &db,
        1e-6,
        1e-6,
    );

    let s = Spatial { n: 2, d: 3, hw: 5 };
    let z = to_f64(&uniform(&mut rng, 6, -1.0, 1.0));
    let dy = to_f64(&uniform(&mut rng, 30, -1.0, 1.0));
    let dz = cpu::broadcast_spatial_backward(s, &dy);
    gradcheck(
        "broadcast dz",
        |z| cpu::broadcast_spatial(s, z),
        &z,
        &dy,
        &dz,
        1e-6,
        1e-6,
    );

    let s = MapVec {
        n: 2,
        c: 3,
        d: 2,
        hw: 4,
    };
    let m = to_f64(&uniform(&mut rng, 24, -1.0, 1.0));
    let v = to_f64(&uniform(&mut rng, 4, -1.0, 1.0));
    let dy = to_f64(&uniform(&mut rng, 40, -1.0, 1.0));
    let (dm, dv) = cpu::concat_map_vec_backward(s, &dy);
    gradcheck(
        "map_vec dmap",
        |m| cpu::concat_map_vec(s, m, &v),
        &m,
        &dy,
        &dm,
        1e-6,
        1e-6,
    );
    gradcheck(
        "map_vec dvec",
        |v| cpu::concat_map_vec(s, &m, v),
        &v,
        &dy,
        &dv,
        1e-6,
        1e-6,
    );
}

fn is_shape(r: Result<Dispatch>) -> bool {
    matches!(r, Err(Error::Shape(_)))
}

#[test]
fn bad_shapes_are_errors() {
    let gpu = gpu();
    let z = |n| zeros(gpu, n);
    let f = Features {
        rows: 2,
        fa: 3,
        fb: 4,
    };
    assert!(is_shape(layout::concat_features(
        gpu,
        f,
        &z(5),
        &z(8),
        &z(14)
    ))); // a: 5, not 6
    assert!(is_shape(layout::concat_features(
        gpu,
        f,
        &z(6),
        &z(7),
        &z(14)
    )));
    assert!(is_shape(layout::concat_features(
        gpu,
        f,
        &z(6),
        &z(8),
        &z(13)
    )));
    assert!(is_shape(layout::split_features(
        gpu,
        f,
        &z(15),
        &z(6),
        &z(8),
        [false; 2]
    )));
    assert!(is_shape(layout::split_features(
        gpu,
        f,
        &z(14),
        &z(5),
        &z(8),
        [false; 2]
    )));

    let s = Spatial { n: 2, d: 3, hw: 4 };
    assert!(is_shape(layout::broadcast_spatial(gpu, s, &z(5), &z(24))));
    assert!(is_shape(layout::broadcast_spatial(gpu, s, &z(6), &z(23))));
    assert!(is_shape(layout::broadcast_spatial_backward(
        gpu,
        s,
        &z(24),
        &z(7),
        true
    )));

    let s = MapVec {
        n: 2,
        c: 3,
        d: 2,
        hw: 4,
    };
    assert!(is_shape(layout::concat_map_vec(
        gpu,
        s,
        &z(24),
        &z(4),
        &z(39)
    )));
    assert!(is_shape(layout::concat_map_vec(
        gpu,
        s,
        &z(23),
        &z(4),
        &z(40)
    )));
    assert!(is_shape(layout::concat_map_vec(
        gpu,
        s,
        &z(24),
        &z(5),
        &z(40)
    )));
    assert!(is_shape(layout::concat_map_vec_backward(
        gpu,
        s,
        &z(40),
        &z(24),
        &z(3),
        [true; 2]
    )));
    // Sizes whose product overflows are named, not wrapped into a small valid-looking count.
    let huge = Spatial {
        n: usize::MAX / 2,
        d: 3,
        hw: 1,
    };
    assert!(matches!(
        layout::broadcast_spatial(gpu, huge, &z(1), &z(1)),
        Err(Error::Limit(_))
    ));
    // An f16 buffer is refused by name.
    if gpu.has_f16() {
        let h = gpu.zeros(6, DType::F16).unwrap();
        let s = Spatial { n: 2, d: 3, hw: 4 };
        assert!(is_shape(layout::broadcast_spatial(gpu, s, &h, &z(24))));
    }
    // The same buffer as both gradients is refused up front.
    let g = z(6);
    let f = Features {
        rows: 2,
        fa: 3,
        fb: 3,
    };
    assert!(matches!(
        layout::split_features(gpu, f, &z(12), &g, &g, [false; 2]),
        Err(Error::Config(_))
    ));
}
