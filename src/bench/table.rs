//! The results table: one row per case, as Markdown so it pastes into BENCHMARKS.md.
//!
//! The share column is a roofline: a call cannot beat max(flops / peak FLOP/s, bytes / peak
//! B/s) with the measured peaks, and the column is that bound over the median time. The rate
//! column shows whichever resource that bound says the case is limited by.

use crate::bench::timer::Timing;

pub struct Row {
    pub name: String,
    pub shape: String,
    pub flops: f64,
    pub bytes: f64,
    pub timing: Timing,
}

/// The measured ceilings, per second.
#[derive(Debug, Clone, Copy)]
pub struct Ceilings {
    pub bytes: f64,
    pub flops: f64,
}

impl Row {
    pub fn gbps(&self) -> f64 {
        self.bytes / self.timing.median * 1e-9
    }
    pub fn gflops(&self) -> f64 {
        self.flops / self.timing.median * 1e-9
    }
    /// True when the roofline says arithmetic, not memory, bounds this case.
    fn compute_bound(&self, c: &Ceilings) -> bool {
        self.flops / c.flops > self.bytes / c.bytes
    }
    /// Percent of the roofline bound reached.
    pub fn share(&self, c: &Ceilings) -> f64 {
        let bound = (self.flops / c.flops).max(self.bytes / c.bytes);
        100.0 * bound / self.timing.median
    }
}

/// Seconds as a short human string.
pub fn fmt_time(s: f64) -> String {
    match s {
        s if s >= 1.0 => format!("{s:.2} s"),
        s if s >= 1e-3 => format!("{:.2} ms", s * 1e3),
        s => format!("{:.1} us", s * 1e6),
    }
}

pub fn render(rows: &[Row], c: &Ceilings) -> String {
    let header = [
        "kernel",
        "shape",
        "median",
        "min",
        "max",
        "rate",
        "% of ceiling",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let rate = match r.compute_bound(c) {
                true => format!("{:.1} GFLOP/s", r.gflops()),
                false => format!("{:.1} GB/s", r.gbps()),
            };
            [
                r.name.clone(),
                r.shape.clone(),
                fmt_time(r.timing.median),
                fmt_time(r.timing.min),
                fmt_time(r.timing.max),
                rate,
                format!("{:.0}%", r.share(c)),
            ]
        })
        .collect();
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cols: Vec<&str>| {
        let padded: Vec<String> = cols
            .iter()
            .zip(&width)
            .enumerate()
            // Text columns left-aligned, numbers right-aligned.
            .map(|(i, (s, w))| match i < 2 {
                true => format!("{s:<w$}"),
                false => format!("{s:>w$}"),
            })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header.to_vec());
    let rules: Vec<String> = width
        .iter()
        .enumerate()
        .map(|(i, w)| match i < 2 {
            true => "-".repeat(*w),
            false => format!("{}:", "-".repeat(w - 1)),
        })
        .collect();
    out.push_str(&line(rules.iter().map(|s| s.as_str()).collect()));
    for row in &cells {
        out.push_str(&line(row.iter().map(|s| s.as_str()).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::timer::{median, Clock};

    #[test]
    fn share_is_the_roofline_bound_over_the_time() {
        let c = Ceilings {
            bytes: 10e9,
            flops: 100e9,
        };
        let timing = Timing {
            median: 2e-3,
            min: 1e-3,
            max: 3e-3,
            batch: 1,
            clock: Clock::Wall,
        };
        // 10 MB at 10 GB/s is 1 ms; 1 MFLOP at 100 GFLOP/s is 10 us: memory-bound, 50%.
        let row = Row {
            name: "k".into(),
            shape: "s".into(),
            flops: 1e6,
            bytes: 10e6,
            timing,
        };
        assert!((row.share(&c) - 50.0).abs() < 1e-9);
        let text = render(&[row], &c);
        assert!(text.contains("5.0 GB/s") && text.contains("50%") && text.contains("2.00 ms"));
        assert_eq!(median(&[1.0, 2.0, 10.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 10.0]), 3.0);
    }
}
