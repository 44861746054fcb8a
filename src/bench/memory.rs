//! Host memory of this process, for `bench train`'s check that a training step allocates
//! nothing that outlives it. On a CPU adapter (lavapipe) GPU buffers live in host memory too,
//! so a step that leaks anywhere (our scheduler, wgpu, the driver) shows up here.

/// Resident set size in bytes (Linux: /proc/self/statm; None elsewhere or on a read error).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // statm counts pages: 4 KiB on most kernels, 16 or 64 KiB on some aarch64 ones.
    Some(pages * page_size())
}

fn page_size() -> u64 {
    // /proc/self/smaps' first "KernelPageSize" line gives the real page size.
    std::fs::read_to_string("/proc/self/smaps")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("KernelPageSize:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(4096, |kb| kb * 1024)
}

/// Growth per step between two readings, in bytes (negative when memory was returned).
pub fn growth_per_step(before: u64, after: u64, steps: u64) -> f64 {
    (after as f64 - before as f64) / steps.max(1) as f64
}
