//! InfoGAN's `noise_prior=uniform` (the official MNIST experiment's U[-1, 1] noise): the
//! generator inputs drawn for samples and grids follow it, and the codes keep their layout.
use shadergrad::data::dataset::ImageShape;
use shadergrad::models::by_name_with;
use shadergrad::models::hparams::parse;

/// (noise values, category and continuous values) of `n` prior draws.
fn draws(items: &[&str], n: usize) -> (Vec<f32>, Vec<f32>) {
    let hp = parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let model = by_name_with("infogan", ImageShape::MNIST, &hp).unwrap();
    let z = model.sample_latent(n, 3);
    let d = model.latent_dim();
    let (mut noise, mut codes) = (Vec::new(), Vec::new());
    for row in z.chunks(d) {
        noise.extend_from_slice(&row[..62]);
        codes.extend_from_slice(&row[62..]);
    }
    (noise, codes)
}

#[test]
fn uniform_noise_prior_draws_from_minus_one_to_one() {
    let n = 400;
    let (uniform, codes_u) = draws(&["noise_prior=uniform"], n);
    let (normal, codes_n) = draws(&["noise_prior=normal"], n);
    let var = |v: &[f32]| v.iter().map(|x| (x * x) as f64).sum::<f64>() / v.len() as f64;
    assert!(uniform.iter().all(|x| (-1.0..=1.0).contains(x)));
    // U[-1, 1] has variance 1/3; 24,800 draws put the estimate within a few percent.
    assert!(
        (var(&uniform) - 1.0 / 3.0).abs() < 0.02,
        "{}",
        var(&uniform)
    );
    assert!((var(&normal) - 1.0).abs() < 0.05, "{}", var(&normal));
    assert!(normal.iter().any(|x| x.abs() > 1.0));
    // The category and continuous codes do not depend on the noise prior.
    assert_eq!(codes_u, codes_n);
}
