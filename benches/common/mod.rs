//! Measurement helpers the benches share: sampling, statistics, table cells, machine state.
// Each bench uses its own subset.
#![allow(dead_code)]

use std::hint::black_box;
use std::time::Instant;

pub fn cell(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1}"))
}

pub fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(ours), Some(theirs)) if theirs > 0.0 => format!("{:.2}", ours / theirs),
        _ => "-".to_owned(),
    }
}

/// Wall times of `runs` calls of `job` in milliseconds, after `warmup` untimed ones.
pub fn sample_ms<T>(runs: usize, warmup: usize, mut job: impl FnMut() -> T) -> Vec<f64> {
    for _ in 0..warmup {
        black_box(job());
    }
    (0..runs.max(1))
        .map(|_| {
            let started = Instant::now();
            black_box(job());
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        len if len % 2 == 0 => Some((sorted[mid - 1] + sorted[mid]) / 2.0),
        _ => Some(sorted[mid]),
    }
}

/// The 1, 5 and 15 minute load averages, so a reader can tell a busy machine's numbers.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |load| {
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        },
    )
}

pub fn env_count(name: &str, default: usize) -> usize {
    env_number(name).unwrap_or(default)
}

pub fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}
