//! Alternating updates (InfoGAN `updates=alternating`): within one training step D and Q
//! take their Adam step first, then G's gradient is taken against the updated D. Checked by
//! recomputing G's gradient with player 1's graph alone at (G before the step, D after it)
//! and at (G, D both before): the step's gradient must equal the first and differ from the
//! second. Also: each player's update leaves the other's parameters alone.
mod common;
use common::gpu;
use shadergrad::data::batch::{batches, epoch_order};
use shadergrad::data::mnist;
use shadergrad::models::hparams::parse;
use shadergrad::train::config::TrainConfig;
use shadergrad::train::trainer::Run;

/// Ranges [start, end) of the parameter arena that belong to the generator.
fn generator_ranges(run: &Run) -> Vec<(usize, usize)> {
    run.model
        .params()
        .iter()
        .filter(|p| p.name.starts_with("generator."))
        .map(|p| {
            let start = run.store.offset(&p.name).unwrap();
            (start, start + p.len())
        })
        .collect()
}

fn in_ranges(i: usize, ranges: &[(usize, usize)]) -> bool {
    ranges.iter().any(|&(a, b)| (a..b).contains(&i))
}

/// Largest |a - b| over the generator's entries, relative to the largest |a|.
fn generator_difference(a: &[f32], b: &[f32], ranges: &[(usize, usize)]) -> f64 {
    let (mut diff, mut scale) = (0f64, 0f64);
    for &(s, e) in ranges {
        for i in s..e {
            diff = diff.max((a[i] - b[i]).abs() as f64);
            scale = scale.max(a[i].abs() as f64);
        }
    }
    diff / scale
}

#[test]
fn the_generator_steps_against_the_discriminator_updated_in_the_same_step() {
    let gpu = gpu();
    let mut cfg = TrainConfig::for_model("infogan");
    cfg.batch_size = 20;
    // A large rate makes D's update move G's gradient well beyond round-off.
    cfg.lr = 1e-2;
    cfg.hparams = parse(&["updates=alternating".into()]).unwrap();
    let mut run = Run::new(gpu, cfg).unwrap();
    assert_eq!(run.later_players.len(), 1);
    let data = mnist::load(&mnist::default_dir()).unwrap();
    let order = epoch_order(data.train.len(), 1, 0);
    let idx = batches(&order, 20).next().unwrap();
    let ranges = generator_ranges(&run);

    let before: Vec<f32> = gpu.download(&run.store.params).unwrap();
    let mut scratch = Vec::new();
    run.train_step(gpu, &data, idx, &mut scratch, 1e-2).unwrap();
    let after: Vec<f32> = gpu.download(&run.store.params).unwrap();
    let step_grads: Vec<f32> = gpu.download(&run.store.grads).unwrap();
    let moved = |i: usize| before[i] != after[i];
    let n = before.len();
    assert!(
        (0..n).any(|i| in_ranges(i, &ranges) && moved(i)),
        "G did not move"
    );
    assert!(
        (0..n).any(|i| !in_ranges(i, &ranges) && moved(i)),
        "D did not move"
    );

    // G's gradient again, from player 1's graph alone (same step key, so the same codes).
    let g_grad_at = |params: &[f32]| -> Vec<f32> {
        gpu.write(&run.store.params, params).unwrap();
        run.later_players[0].program.step(gpu, 0, &[]).unwrap();
        gpu.download(&run.store.grads).unwrap()
    };
    let mixed: Vec<f32> = (0..n)
        .map(|i| match in_ranges(i, &ranges) {
            true => before[i],
            false => after[i],
        })
        .collect();
    let against_updated_d = generator_difference(&step_grads, &g_grad_at(&mixed), &ranges);
    let against_old_d = generator_difference(&step_grads, &g_grad_at(&before), &ranges);
    assert!(
        against_updated_d < 1e-5,
        "G's step gradient differs from the gradient at the updated D by {against_updated_d:e}"
    );
    assert!(
        against_old_d > 1e-3,
        "G's step gradient equals the one at the old D ({against_old_d:e}): D was not updated first"
    );
}
