//! Random family vs its twins: Philox against the Random123 known answers and the GPU bit for
//! bit, samples independent of dispatch shape, their moments, and the Gaussian head (reparam,
//! KL, fused, backward) vs f64 with gradchecks.
mod common;
use common::*;
use shadergrad::kernels::random::{self, cpu, Dist, Latent, Rng, Scale};
use shadergrad::{Buf, DType, Dispatch};

fn run(ds: &[&Dispatch]) {
    gpu().run(ds).unwrap();
}

fn fill_f32(dist: Dist, n: usize, rng: Rng, wg: usize) -> Vec<f32> {
    let gpu = gpu();
    let out = gpu.zeros(n, DType::F32).unwrap();
    run(&[&random::fill_wg(gpu, dist, &out, rng, wg).unwrap()]);
    gpu.download(&out).unwrap()
}

fn fill_bits(n: usize, rng: Rng, wg: usize) -> Vec<u32> {
    let gpu = gpu();
    let out = gpu.zeros(n, DType::U32).unwrap();
    run(&[&random::fill_wg(gpu, Dist::Bits, &out, rng, wg).unwrap()]);
    gpu.download(&out).unwrap()
}

fn bits_of(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

// ---- Philox ----------------------------------------------------------------------------------

#[test]
fn philox_twin_matches_random123_known_answers() {
    // Random123 tests/kat_vectors, philox4x32 10: counter, key -> output.
    let kat: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
        (
            [0; 4],
            [0; 2],
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
        ),
        (
            [u32::MAX; 4],
            [u32::MAX; 2],
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
        ),
        (
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0],
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
        ),
    ];
    for (c, k, want) in kat {
        assert_eq!(
            cpu::philox4x32_10(c, k),
            want,
            "counter {c:08x?} key {k:08x?}"
        );
    }
}

#[test]
fn philox_gpu_equals_twin_bit_for_bit() {
    use rand::Rng as _;
    let mut rng = rng();
    // Edge keys/counters (all-ones words through the 16-bit-halves multiply) and random ones;
    // offsets not multiples of 4, and one crossing the 2^32 carry into the high counter word.
    let mut cases = vec![
        Rng::new(0, 0),
        Rng::new(u64::MAX, u64::MAX - 5000).with_stream(u32::MAX),
        Rng::new(0x299f31d0_a4093822, (1u64 << 32) * 4 - 6).with_stream(0x13198a2e),
    ];
    for _ in 0..4 {
        cases.push(Rng::new(rng.random(), rng.random::<u64>() >> 2).with_stream(rng.random()));
    }
    for r in cases {
        for n in [1usize, 3, 4097] {
            assert_eq!(fill_bits(n, r, 64), cpu::bits(r, n), "{r:?} n={n}");
        }
    }
}

// ---- samples ---------------------------------------------------------------------------------

#[test]
fn samples_match_twin_at_awkward_sizes_and_offsets() {
    use rand::Rng as _;
    let mut rng = rng();
    let seed = rng.random();
    for n in [1usize, 2, 5, 1001] {
        for offset in [0u64, 1, 3, 6, (1 << 34) + 2, u64::MAX - 4096] {
            let r = Rng::new(seed, offset).with_stream(n as u32);
            let u = fill_f32(Dist::Uniform, n, r, 64);
            // Uniforms are exact multiples of 2^-24: bitwise equal to the twin.
            let want: Vec<u32> = cpu::uniform(r, n)
                .iter()
                .map(|&x| (x as f32).to_bits())
                .collect();
            assert_eq!(bits_of(&u), want, "uniform {r:?} n={n}");
            let z = fill_f32(Dist::Normal, n, r, 64);
            // log/cos/sin are the adapter's f32 transcendentals: equal up to ulps, not bits.
            assert_close(
                &format!("normal {r:?} n={n}"),
                &z,
                &cpu::normal(r, n),
                1e-6,
                1e-6,
            );
        }
    }
}

#[test]
fn samples_do_not_depend_on_workgroup_size_runs_or_splitting() {
    let (n, r) = (10_007usize, Rng::new(0x5eed, 4_000_000_001).with_stream(3));
    for dist in [Dist::Uniform, Dist::Normal] {
        let base = bits_of(&fill_f32(dist, n, r, 64));
        assert_eq!(
            base,
            bits_of(&fill_f32(dist, n, r, 64)),
            "{dist:?} second run"
        );
        for wg in [8, 256, 1, 24] {
            assert_eq!(base, bits_of(&fill_f32(dist, n, r, wg)), "{dist:?} WG={wg}");
        }
        // Two calls: [offset, offset + k) then [offset + k, offset + n), k not a multiple of 4.
        for k in [1usize, 2, 4999, 10_006] {
            let mut joined = fill_f32(dist, k, r, 64);
            joined.extend(fill_f32(
                dist,
                n - k,
                Rng {
                    offset: r.offset + k as u64,
                    ..r
                },
                8,
            ));
            assert_eq!(base, bits_of(&joined), "{dist:?} split at {k}");
        }
    }
}

#[test]
fn set_params_moves_a_fill_to_the_next_step_without_rebuilding() {
    let gpu = gpu();
    let n = 1234;
    let out = gpu.zeros(n, DType::F32).unwrap();
    let d = random::fill(gpu, Dist::Normal, &out, Rng::new(9, 0)).unwrap();
    for step in [0u64, 1, 7] {
        // offset = step * n; n % 4 != 0, so the blocks straddle differently each step.
        let r = Rng::new(9, step * n as u64);
        gpu.set_params(&d, &random::fill_params(n, r));
        run(&[&d]);
        let got = gpu.download::<f32>(&out).unwrap();
        assert_eq!(
            bits_of(&got),
            bits_of(&fill_f32(Dist::Normal, n, r, 64)),
            "step {step}"
        );
    }
}

#[test]
fn fill_over_65535_workgroups_matches_twin() {
    // WG = 8 and 4 samples per invocation: 2^21 + 13 samples need 65,537 workgroups.
    let n = (1 << 21) + 13;
    let r = Rng::new(77, 5);
    let u = fill_f32(Dist::Uniform, n, r, 8);
    let want: Vec<u32> = cpu::uniform(r, n)
        .iter()
        .map(|&x| (x as f32).to_bits())
        .collect();
    assert!(
        bits_of(&u) == want,
        "uniform over 65,535 workgroups differs from the twin"
    );
    let z = fill_f32(Dist::Normal, n, r, 8);
    assert_close("normal n=2^21+13", &z, &cpu::normal(r, n), 1e-6, 1e-6);
}

/// Mean and variance of `v`, in f64.
fn moments(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var)
}

#[test]
fn a_million_normals_have_mean_0_and_variance_1() {
    // Fixed seeds (a statistical test with a random seed fails 3-sigma checks now and then).
    let n = 1_000_000;
    for seed in [1u64, 2024] {
        let z = fill_f32(Dist::Normal, n, Rng::new(seed, 0), 64);
        assert!(z.iter().all(|x| x.is_finite()), "non-finite normal");
        let (mean, var) = moments(&z);
        let (se_mean, se_var) = ((1.0 / n as f64).sqrt(), (2.0 / n as f64).sqrt());
        assert!(mean.abs() < 3.0 * se_mean, "seed {seed}: mean {mean}");
        assert!(
            (var - 1.0).abs() < 3.0 * se_var,
            "seed {seed}: variance {var}"
        );
    }
}

#[test]
fn a_million_uniforms_have_mean_half_and_variance_one_twelfth() {
    let n = 1_000_000;
    for seed in [1u64, 2024] {
        let u = fill_f32(Dist::Uniform, n, Rng::new(seed, 0), 64);
        assert!(
            u.iter().all(|&x| (0.0..1.0).contains(&x)),
            "uniform outside [0, 1)"
        );
        let (mean, var) = moments(&u);
        // Var(U) = 1/12; Var((U - 1/2)^2) = 1/80 - 1/144 = 1/180.
        let (se_mean, se_var) = (
            (1.0 / 12.0 / n as f64).sqrt(),
            (1.0 / 180.0 / n as f64).sqrt(),
        );
        assert!(
            (mean - 0.5).abs() < 3.0 * se_mean,
            "seed {seed}: mean {mean}"
        );
        assert!(
            (var - 1.0 / 12.0).abs() < 3.0 * se_var,
            "seed {seed}: variance {var}"
        );
    }
}

/// The first stream element (seed fixed) whose word satisfies `pred`, searched with the twin.
fn find_element(seed: u64, lanes: &[usize], pred: impl Fn(u32) -> bool) -> u64 {
    let r = Rng::new(seed, 0);
    for g in 0..(1u64 << 27) {
        let w = cpu::block(r, g);
        if let Some(&l) = lanes.iter().find(|&&l| pred(w[l])) {
            return g * 4 + l as u64;
        }
    }
    panic!("no such element");
}

#[test]
fn regression_uniform_never_returns_one() {
    // A word with all top 24 bits set: rounding w / 2^32 to f32 would give 1.0; the 24-bit
    // construction gives 1 - 2^-24.
    let e = find_element(11, &[0, 1, 2, 3], |w| w >> 8 == 0xff_ffff);
    let u = fill_f32(Dist::Uniform, 3, Rng::new(11, e - 1), 64);
    assert_eq!(u[1], 1.0 - 2f32.powi(-24), "largest uniform");
    assert!(u.iter().all(|&x| x < 1.0));
}

#[test]
fn regression_box_muller_never_takes_log_of_zero() {
    // A radius word (lane 0 or 2) with top 24 bits zero: u = k * 2^-24 would be 0 and
    // -2 ln 0 = inf; the (0, 1] construction gives u = 2^-24, r = sqrt(48 ln 2).
    let e = find_element(12, &[0, 2], |w| w >> 8 == 0);
    let r = Rng::new(12, e);
    let z = fill_f32(Dist::Normal, 2, r, 64);
    assert!(z.iter().all(|x| x.is_finite()), "{z:?}");
    assert_close("largest radius", &z, &cpu::normal(r, 2), 1e-6, 1e-6);
    let (c, s) = cpu::box_muller(0, cpu::word(r, e + 1));
    assert!(((c * c + s * s).sqrt() - (48f64 * 2f64.ln()).sqrt()).abs() < 1e-12);
}

// ---- Gaussian head ---------------------------------------------------------------------------

const SCALES: [Scale; 2] = [Scale::LogVar, Scale::Sigma];

/// f32 inputs of a head: mu, the scale parameter s (logvar in [-3, 3] or sigma in [0.05, 3]),
/// and eps.
fn head_inputs(
    rng: &mut rand::rngs::StdRng,
    scale: Scale,
    n: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mu = uniform(rng, n, -2.0, 2.0);
    let s = match scale {
        Scale::LogVar => uniform(rng, n, -3.0, 3.0),
        Scale::Sigma => uniform(rng, n, 0.05, 3.0),
    };
    (mu, s, uniform(rng, n, -2.5, 2.5))
}

fn up(v: &[f32]) -> Buf {
    gpu().upload(v).unwrap()
}

fn down(b: &Buf) -> Vec<f32> {
    gpu().download(b).unwrap()
}

fn nan_buf(n: usize) -> Buf {
    up(&vec![f32::NAN; n])
}

fn add(a: &[f32], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(&x, y)| x as f64 + y).collect()
}

// Tolerances: 1e-5 relative; z = mu + sigma * eps and the fused gradients are sums of O(10)
// terms that can cancel to ~0, where f32 rounding of the terms (~1e-6) is all that is left, so
// those also get ATOL.
const RTOL: f64 = 1e-5;
const ATOL: f64 = 1e-5;

/// Every head entry point vs the f64 twin for one (scale, B, D); backward both writing (over
/// NaN, which must be ignored) and accumulating (onto random values).
fn check_head(rng: &mut rand::rngs::StdRng, scale: Scale, b: usize, d: usize) {
    let gpu = gpu();
    let n = b * d;
    let l = Latent::new(b, d, scale);
    let what = |op: &str| format!("{op} {scale:?} B={b} D={d}");
    let (mu, s, eps) = head_inputs(rng, scale, n);
    let (dz, dkl) = (uniform(rng, n, -1.0, 1.0), uniform(rng, b, -1.0, 1.0));
    let (old_mu, old_s) = (uniform(rng, n, -1.0, 1.0), uniform(rng, b * d, -1.0, 1.0));
    let (mu64, s64, eps64, dz64, dkl64) = (
        to_f64(&mu),
        to_f64(&s),
        to_f64(&eps),
        to_f64(&dz),
        to_f64(&dkl),
    );
    let (mub, sb, epsb, dzb, dklb) = (up(&mu), up(&s), up(&eps), up(&dz), up(&dkl));

    // Forward: separate and fused.
    let (z, klb) = (nan_buf(n), nan_buf(b));
    run(&[&random::reparam(gpu, l, &mub, &sb, &epsb, &z).unwrap()]);
    let z_want = cpu::reparam(scale, &mu64, &s64, &eps64);
    assert_close(&what("reparam"), &down(&z), &z_want, RTOL, ATOL);
    run(&[&random::kl(gpu, l, &mub, &sb, &klb).unwrap()]);
    let kl_want = cpu::kl(scale, &mu64, &s64, d);
    assert_close(&what("kl"), &down(&klb), &kl_want, RTOL, 0.0);
    let (z2, kl2) = (nan_buf(n), nan_buf(b));
    run(&[&random::reparam_kl(gpu, l, &mub, &sb, &epsb, &z2, &kl2, None).unwrap()]);
    assert_close(&what("fused z"), &down(&z2), &z_want, RTOL, ATOL);
    assert_close(&what("fused kl"), &down(&kl2), &kl_want, RTOL, 0.0);

    // Backward: (name, f64 twin (dmu, ds), builder).
    let twins = [
        (
            "reparam_backward",
            cpu::reparam_backward(scale, &s64, &eps64, &dz64),
        ),
        (
            "kl_backward",
            cpu::kl_backward(scale, &mu64, &s64, &dkl64, d),
        ),
        (
            "reparam_kl_backward",
            cpu::reparam_kl_backward(scale, &mu64, &s64, &eps64, &dz64, &dkl64, d),
        ),
    ];
    for (op, (dmu_want, ds_want)) in twins {
        for accumulate in [false, true] {
            let (dmu, ds) = match accumulate {
                false => (nan_buf(n), nan_buf(n)),
                true => (up(&old_mu), up(&old_s)),
            };
            let disp = match op {
                "reparam_backward" => {
                    random::reparam_backward(gpu, l, &sb, &epsb, &dzb, &dmu, &ds, accumulate)
                }
                "kl_backward" => {
                    random::kl_backward(gpu, l, &mub, &sb, &dklb, &dmu, &ds, accumulate)
                }
                _ => random::reparam_kl_backward(
                    gpu, l, &mub, &sb, &epsb, &dzb, &dklb, &dmu, &ds, accumulate,
                ),
            };
            run(&[&disp.unwrap()]);
            let (want_mu, want_s) = match accumulate {
                false => (dmu_want.clone(), ds_want.clone()),
                true => (add(&old_mu, &dmu_want), add(&old_s, &ds_want)),
            };
            let tag = what(&format!("{op} accumulate={accumulate}"));
            assert_close(&format!("{tag} dmu"), &down(&dmu), &want_mu, RTOL, ATOL);
            assert_close(&format!("{tag} ds"), &down(&ds), &want_s, RTOL, ATOL);
        }
    }
}

#[test]
fn head_matches_twin_at_awkward_sizes() {
    let mut rng = rng();
    for scale in SCALES {
        for (b, d) in [(1, 1), (3, 7), (37, 20), (5, 1031), (200, 1)] {
            check_head(&mut rng, scale, b, d);
        }
    }
}

#[test]
fn head_over_65535_workgroups_matches_twin() {
    // B = 4.2M rows of D = 1: both the row kernels (one invocation per row) and the
    // elementwise ones need more than 65,535 workgroups of 64.
    check_head(&mut rng(), Scale::LogVar, 4_200_000, 1);
}

#[test]
fn head_with_near_prior_inputs_keeps_its_digits() {
    // Regression: a collapsed VAE dimension has mu ~ 0, logvar ~ 0 (sigma ~ 1), where
    // exp(lv) - 1 - lv and (exp(lv) - 1) / 2 cancel catastrophically if computed directly.
    let gpu = gpu();
    for scale in SCALES {
        let s: Vec<f32> = match scale {
            Scale::LogVar => vec![1e-3, -2e-4, 3e-6, 0.2, -0.24, 0.26],
            Scale::Sigma => vec![1.0005, 0.9998, 1.000001, 1.1, 0.9, 1.3],
        };
        let n = s.len();
        let l = Latent::new(n, 1, scale);
        let mu = vec![0.0f32; n];
        let (mub, sb, klb) = (up(&mu), up(&s), nan_buf(n));
        run(&[&random::kl(gpu, l, &mub, &sb, &klb).unwrap()]);
        let (mu64, s64) = (to_f64(&mu), to_f64(&s));
        assert_close(
            &format!("kl {scale:?}"),
            &down(&klb),
            &cpu::kl(scale, &mu64, &s64, 1),
            1e-5,
            0.0,
        );
        let (dklb, dmu, ds) = (up(&vec![1.0; n]), nan_buf(n), nan_buf(n));
        run(&[&random::kl_backward(gpu, l, &mub, &sb, &dklb, &dmu, &ds, false).unwrap()]);
        let (_, want) = cpu::kl_backward(scale, &mu64, &s64, &vec![1.0; n], 1);
        assert_close(&format!("dKL/ds {scale:?}"), &down(&ds), &want, 1e-5, 0.0);
    }
}

#[test]
fn head_backward_twins_pass_gradcheck() {
    let mut rng = rng();
    for scale in SCALES {
        let (b, d) = (3, 5);
        let n = b * d;
        let (mu, s, eps) = head_inputs(&mut rng, scale, n);
        let (mu, s, eps) = (to_f64(&mu), to_f64(&s), to_f64(&eps));
        let dz = to_f64(&uniform(&mut rng, n, -1.0, 1.0));
        let dkl = to_f64(&uniform(&mut rng, b, -1.0, 1.0));
        let tag = |op: &str, wrt: &str| format!("{op} {scale:?} d/d{wrt}");
        let (h, tol) = (1e-6, 1e-6);

        let (dmu, ds) = cpu::reparam_backward(scale, &s, &eps, &dz);
        let f = |m: &[f64]| cpu::reparam(scale, m, &s, &eps);
        gradcheck(&tag("reparam", "mu"), f, &mu, &dz, &dmu, h, tol);
        let f = |v: &[f64]| cpu::reparam(scale, &mu, v, &eps);
        gradcheck(&tag("reparam", "s"), f, &s, &dz, &ds, h, tol);

        let (dmu, ds) = cpu::kl_backward(scale, &mu, &s, &dkl, d);
        let f = |m: &[f64]| cpu::kl(scale, m, &s, d);
        gradcheck(&tag("kl", "mu"), f, &mu, &dkl, &dmu, h, tol);
        let f = |v: &[f64]| cpu::kl(scale, &mu, v, d);
        gradcheck(&tag("kl", "s"), f, &s, &dkl, &ds, h, tol);

        // Fused: the loss sees both outputs, dy = (dz, dkl).
        let (dmu, ds) = cpu::reparam_kl_backward(scale, &mu, &s, &eps, &dz, &dkl, d);
        let dy: Vec<f64> = dz.iter().chain(&dkl).copied().collect();
        let both = |m: &[f64], v: &[f64]| {
            let (z, k) = cpu::reparam_kl(scale, m, v, &eps, d);
            z.into_iter().chain(k).collect::<Vec<_>>()
        };
        gradcheck(
            &tag("reparam_kl", "mu"),
            |m| both(m, &s),
            &mu,
            &dy,
            &dmu,
            h,
            tol,
        );
        gradcheck(
            &tag("reparam_kl", "s"),
            |v| both(&mu, v),
            &s,
            &dy,
            &ds,
            h,
            tol,
        );
    }
}

#[test]
fn fused_head_draws_the_fill_normal_stream_whatever_the_workgroup_size() {
    let gpu = gpu();
    let mut rng = rng();
    for (b, d) in [(1, 1), (13, 7), (64, 20)] {
        let n = b * d;
        let l = Latent::new(b, d, Scale::LogVar);
        let (mu, s, _) = head_inputs(&mut rng, Scale::LogVar, n);
        let (mub, sb) = (up(&mu), up(&s));
        let r = Rng::new(42, 3 * n as u64 + 1).with_stream(5);
        let want_eps = bits_of(&fill_f32(Dist::Normal, n, r, 64));
        let mut first: Option<(Vec<u32>, Vec<u32>)> = None;
        for wg in [64, 8, 256] {
            let (eps, z, kl) = (nan_buf(n), nan_buf(n), nan_buf(b));
            let disp = random::reparam_kl_wg(gpu, l, &mub, &sb, &eps, &z, &kl, Some(r), wg);
            run(&[&disp.unwrap()]);
            let eps = down(&eps);
            assert_eq!(bits_of(&eps), want_eps, "drawn eps B={b} D={d} WG={wg}");
            let (z, kl) = (down(&z), down(&kl));
            if let Some((z0, kl0)) = &first {
                assert_eq!((&bits_of(&z), &bits_of(&kl)), (z0, kl0), "WG={wg}");
            } else {
                let (zw, kw) =
                    cpu::reparam_kl(Scale::LogVar, &to_f64(&mu), &to_f64(&s), &to_f64(&eps), d);
                assert_close(&format!("drawn z B={b} D={d}"), &z, &zw, RTOL, ATOL);
                assert_close(&format!("drawn kl B={b} D={d}"), &kl, &kw, RTOL, 0.0);
                first = Some((bits_of(&z), bits_of(&kl)));
            }
        }
    }
}

#[test]
fn fused_head_moves_to_the_next_step_with_set_params() {
    let gpu = gpu();
    let (b, d) = (9, 11);
    let n = b * d;
    let l = Latent::new(b, d, Scale::Sigma);
    let (mu, s, _) = head_inputs(&mut rng(), Scale::Sigma, n);
    let (mub, sb, eps, z, kl) = (up(&mu), up(&s), nan_buf(n), nan_buf(n), nan_buf(b));
    let disp = random::reparam_kl(gpu, l, &mub, &sb, &eps, &z, &kl, Some(Rng::new(1, 0))).unwrap();
    for step in [2u64, 5] {
        let r = Rng::new(1, step * n as u64);
        gpu.set_params(&disp, &random::reparam_kl_params(l, Some(r)));
        run(&[&disp]);
        assert_eq!(
            bits_of(&down(&eps)),
            bits_of(&fill_f32(Dist::Normal, n, r, 64)),
            "step {step}"
        );
    }
}

#[test]
fn bad_input_is_an_error() {
    let gpu = gpu();
    let (b, d) = (4, 3);
    let l = Latent::new(b, d, Scale::LogVar);
    let f = |n: usize| gpu.zeros(n, DType::F32).unwrap();
    let (mu, s, eps, z, kl) = (f(12), f(12), f(12), f(12), f(4));
    let (short, kl_bad, ints) = (f(11), f(3), gpu.zeros(12, DType::U32).unwrap());
    assert!(
        random::reparam(gpu, l, &mu, &s, &eps, &short).is_err(),
        "z too short"
    );
    assert!(
        random::reparam(gpu, l, &mu, &s, &eps, &mu).is_err(),
        "z aliases mu"
    );
    assert!(
        random::reparam(gpu, l, &ints, &s, &eps, &z).is_err(),
        "u32 mu"
    );
    assert!(
        random::kl(gpu, l, &mu, &s, &kl_bad).is_err(),
        "kl has B - 1 rows"
    );
    assert!(
        random::kl(gpu, Latent::new(4, 0, Scale::LogVar), &mu, &s, &kl).is_err(),
        "D = 0"
    );
    assert!(
        random::kl_backward(gpu, l, &mu, &s, &kl, &z, &z, false).is_err(),
        "dmu = ds"
    );
    assert!(random::reparam_backward(gpu, l, &s, &eps, &short, &mu, &z, false).is_err());
    assert!(random::reparam_kl(gpu, l, &mu, &s, &eps, &z, &kl_bad, None).is_err());
    assert!(
        random::reparam_kl_backward(gpu, l, &mu, &s, &eps, &z, &kl_bad, &f(12), &f(12), true)
            .is_err()
    );
    let past_end = Some(Rng::new(0, u64::MAX - 5));
    assert!(
        random::reparam_kl(gpu, l, &mu, &s, &eps, &z, &kl, past_end).is_err(),
        "wraps"
    );
    assert!(
        random::fill(gpu, Dist::Normal, &ints, Rng::new(0, 0)).is_err(),
        "normal into u32"
    );
    assert!(
        random::fill(gpu, Dist::Bits, &mu, Rng::new(0, 0)).is_err(),
        "bits into f32"
    );
    assert!(
        random::fill(gpu, Dist::Uniform, &mu, Rng::new(0, u64::MAX - 5)).is_err(),
        "wraps"
    );
    assert!(
        random::fill_wg(gpu, Dist::Uniform, &mu, Rng::new(0, 0), 0).is_err(),
        "WG = 0"
    );
    assert!(random::fill_wg(gpu, Dist::Uniform, &mu, Rng::new(0, 0), 1 << 20).is_err());
}
