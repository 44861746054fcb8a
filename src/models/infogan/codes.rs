//! InfoGAN's generator inputs drawn on the host: prior samples for samples.png and the FCD,
//! and the code grids (category rows, continuous-code sweeps). The training graph draws its
//! own on the GPU (see mod.rs); both use the same layout.
//!
//! Shapes: one row per image, [noise (62) | one-hot category (10) | continuous (2)].

use super::InfoGan;

impl InfoGan {
    /// n generator inputs: noise N(0, I) (or U[-1, 1], `noise_prior`), category i mod K (so a 10-column grid shows one
    /// category per column), continuous codes U[-1, 1].
    pub(super) fn sample_codes(&self, n: usize, seed: u64) -> Vec<f32> {
        let noise = self.host_noise(n * self.noise, seed);
        let cont = crate::train::grids::uniform(n * self.continuous, seed ^ 0xC0DE, -1.0, 1.0);
        let (one_hot, _) = self.stratified_categories(n);
        self.codes(&noise, &one_hot, &cont)
    }

    /// categories.png and continuous<j>.png's generator inputs.
    pub(super) fn sweep_grids(&self, seed: u64) -> Vec<(String, Vec<f32>)> {
        let grid = crate::train::grids::GRID;
        let k = self.categories.min(grid);
        // categories.png: row r is category r, column j noise draw j (shared down a column).
        let column_noise = self.host_noise(grid * self.noise, seed);
        let mut noise = Vec::new();
        let mut one_hot = Vec::new();
        for r in 0..k {
            noise.extend_from_slice(&column_noise);
            for _ in 0..grid {
                one_hot.extend((0..self.categories).map(|c| (c == r) as u8 as f32));
            }
        }
        let zeros = vec![0.0; k * grid * self.continuous];
        let mut grids = vec![(
            "categories".to_string(),
            self.codes(&noise, &one_hot, &zeros),
        )];
        // continuous<j>.png: row r category r, c_j swept over [-2, 2] across the columns, the
        // other continuous codes 0, one noise draw for the whole grid (the paper's Fig. 2).
        let fixed = self.host_noise(self.noise, seed ^ 0x5eed);
        for j in 0..self.continuous {
            let mut cont = Vec::new();
            for _ in 0..k {
                for col in 0..grid {
                    let v = -2.0 + 4.0 * col as f32 / (grid - 1) as f32;
                    cont.extend((0..self.continuous).map(|i| if i == j { v } else { 0.0 }));
                }
            }
            let noise: Vec<f32> = (0..k * grid).flat_map(|_| fixed.clone()).collect();
            grids.push((
                format!("continuous{}", j + 1),
                self.codes(&noise, &one_hot, &cont),
            ));
        }
        grids
    }

    /// n values of the incompressible noise from its prior (`noise_prior`).
    fn host_noise(&self, n: usize, seed: u64) -> Vec<f32> {
        match self.noise_prior {
            "uniform" => crate::train::grids::uniform(n, seed, -1.0, 1.0),
            _ => crate::train::grids::prior(n, seed),
        }
    }

    /// One-hot rows of category i mod K, and those categories.
    pub(super) fn stratified_categories(&self, batch: usize) -> (Vec<f32>, Vec<u32>) {
        let k = self.categories;
        let labels: Vec<u32> = (0..batch).map(|i| (i % k) as u32).collect();
        let mut one_hot = vec![0.0; batch * k];
        for (i, &c) in labels.iter().enumerate() {
            one_hot[i * k + c as usize] = 1.0;
        }
        (one_hot, labels)
    }

    /// Rows [noise | one-hot category | continuous] from the three parts' rows.
    fn codes(&self, noise: &[f32], one_hot: &[f32], cont: &[f32]) -> Vec<f32> {
        let n = noise.len() / self.noise;
        (0..n)
            .flat_map(|i| {
                noise[i * self.noise..(i + 1) * self.noise]
                    .iter()
                    .chain(&one_hot[i * self.categories..(i + 1) * self.categories])
                    .chain(&cont[i * self.continuous..(i + 1) * self.continuous])
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}
