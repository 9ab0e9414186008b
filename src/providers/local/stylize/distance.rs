//! Exact Euclidean distance transform (Felzenszwalb & Huttenlocher, 2012), linear time.

use super::parallel::{for_each_row, rows_from_fn};

/// Distance used for "no such pixel anywhere".
pub const FAR: f32 = 1.0e6;

/// For every pixel, the Euclidean distance (in pixels) to the nearest pixel where `target` is
/// true; [`FAR`] if there is none.
pub fn distance_to(target: &[bool], width: usize, height: usize) -> Vec<f32> {
    assert_eq!(target.len(), width * height, "mask sized to the image");
    let far = FAR * FAR;
    // Columns first into a transposed buffer (row y of it is column y of the image)…
    let columns = rows_from_fn(height, width, |x, column| {
        let mut f = vec![0.0f32; height];
        for (y, value) in f.iter_mut().enumerate() {
            *value = if target[y * width + x] { 0.0 } else { far };
        }
        squared_1d(&f, column);
    });
    // …then rows, reading the transposed squared distances back.
    let mut out = vec![0.0f32; width * height];
    for_each_row(&mut out, width, |y, row| {
        let f: Vec<f32> = (0..width).map(|x| columns[x * height + y]).collect();
        squared_1d(&f, row);
        for value in row.iter_mut() {
            *value = if *value >= far { FAR } else { value.sqrt() };
        }
    });
    out
}

/// The lower envelope of parabolas rooted at `f`: `d[q] = min_p (q - p)² + f[p]`.
fn squared_1d(f: &[f32], d: &mut [f32]) {
    let n = f.len();
    if n == 0 {
        return;
    }
    let mut v = vec![0usize; n];
    let mut z = vec![0.0f32; n + 1];
    let mut k = 0;
    z[0] = f32::NEG_INFINITY;
    z[1] = f32::INFINITY;
    let parabola = |p: usize| f[p] + (p * p) as f32;
    for q in 1..n {
        let mut s = (parabola(q) - parabola(v[k])) / (2 * (q - v[k])) as f32;
        // z[0] is -inf, so this stops at k == 0 at the latest.
        while s <= z[k] {
            k -= 1;
            s = (parabola(q) - parabola(v[k])) / (2 * (q - v[k])) as f32;
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f32::INFINITY;
    }
    let mut k = 0;
    for (q, out) in d.iter_mut().enumerate() {
        while z[k + 1] < q as f32 {
            k += 1;
        }
        let p = v[k];
        let dq = q as f32 - p as f32;
        *out = dq * dq + f[p];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_brute_force() {
        let (width, height) = (23, 17);
        let target: Vec<bool> = (0..width * height)
            .map(|i| super::super::noise::hash(i as i32, 3, 1) > 0.93)
            .collect();
        let fast = distance_to(&target, width, height);
        for y in 0..height {
            for x in 0..width {
                let brute = (0..width * height)
                    .filter(|&i| target[i])
                    .map(|i| {
                        let (tx, ty) = ((i % width) as f32, (i / width) as f32);
                        ((tx - x as f32).powi(2) + (ty - y as f32).powi(2)).sqrt()
                    })
                    .fold(FAR, f32::min);
                assert!((fast[y * width + x] - brute).abs() < 1e-3, "({x},{y})");
            }
        }
    }

    #[test]
    fn no_target_means_far_everywhere() {
        let d = distance_to(&[false; 12], 4, 3);
        assert!(d.iter().all(|&v| v == FAR));
    }
}
