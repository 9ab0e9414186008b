//! Edge-preserving smoothing: the domain-transform recursive filter of Gastal & Oliveira
//! ("Domain Transform for Edge-Aware Image and Video Processing", SIGGRAPH 2011).
//!
//! Each pass is a first-order recursive filter whose feedback weakens across colour edges, so
//! cost is O(1) per pixel whatever the spatial extent. The filter is normalised by a
//! confidence weight: pixels of weight 0 (the halo of background just inside a cut-out) add
//! nothing and take their colour from trusted neighbours on the same side of every edge.

use super::oklab::{Lab, LabImage};
use super::parallel::{for_each_row, rows_from_fn};
use super::plane::Plane;

#[derive(Debug, Clone, Copy)]
pub struct SmoothParams {
    /// Spatial extent in pixels.
    pub sigma_space: f32,
    /// Colour difference (Oklab units) across which smoothing mostly stops.
    pub sigma_range: f32,
    pub iterations: u32,
}

/// Smooths `image` with `params`, trusting each pixel by `confidence` (1 when `None`).
pub fn smooth(image: &LabImage, confidence: Option<&Plane>, params: SmoothParams) -> LabImage {
    let (width, height) = (image.width, image.height);
    if width == 0 || height == 0 {
        return image.clone();
    }
    let ratio = params.sigma_space / params.sigma_range.max(1e-4);
    let difference =
        |p: Lab, q: Lab| (p[0] - q[0]).abs() + (p[1] - q[1]).abs() + (p[2] - q[2]).abs();
    // Derivatives of the domain transform: 1 + (σs/σr)·|∇I|, between a pixel and its left
    // (resp. upper) neighbour.
    let horizontal = rows_from_fn(width, height, |y, row| {
        let src = &image.data[y * width..(y + 1) * width];
        row[0] = 1.0;
        for x in 1..width {
            row[x] = 1.0 + ratio * difference(src[x], src[x - 1]);
        }
    });
    let vertical = rows_from_fn(width, height, |y, row| {
        if y == 0 {
            row.fill(1.0);
            return;
        }
        let src = &image.data[y * width..(y + 1) * width];
        let above = &image.data[(y - 1) * width..y * width];
        for (x, value) in row.iter_mut().enumerate() {
            *value = 1.0 + ratio * difference(src[x], above[x]);
        }
    });
    let mut data: Vec<[f32; 4]> = image
        .data
        .iter()
        .enumerate()
        .map(|(i, &[l, a, b])| {
            let w = confidence.map_or(1.0, |c| c.data[i].clamp(0.0, 1.0));
            [l * w, a * w, b * w, w]
        })
        .collect();
    let n = params.iterations.max(1);
    let norm = (4f32.powi(n as i32) - 1.0).sqrt();
    for i in 0..n {
        let sigma = params.sigma_space * 3f32.sqrt() * 2f32.powi((n - i - 1) as i32) / norm;
        let log_feedback = -(2f32.sqrt()) / sigma.max(1e-3);
        filter_rows(&mut data, width, &horizontal, log_feedback);
        filter_columns(&mut data, width, height, &vertical, log_feedback);
    }
    let data = data
        .iter()
        .zip(&image.data)
        .map(|(&[l, a, b, w], &original)| {
            if w > 1e-4 {
                [l / w, a / w, b / w]
            } else {
                original
            }
        })
        .collect();
    LabImage {
        width,
        height,
        data,
    }
}

fn blend(into: &mut [f32; 4], from: &[f32; 4], weight: f32) {
    for c in 0..4 {
        into[c] += weight * (from[c] - into[c]);
    }
}

fn filter_rows(data: &mut [[f32; 4]], width: usize, derivative: &[f32], log_feedback: f32) {
    for_each_row(data, width, |y, row| {
        let d = &derivative[y * width..(y + 1) * width];
        let weights: Vec<f32> = d.iter().map(|&v| (v * log_feedback).exp()).collect();
        for x in 1..width {
            let previous = row[x - 1];
            blend(&mut row[x], &previous, weights[x]);
        }
        for x in (0..width - 1).rev() {
            let next = row[x + 1];
            blend(&mut row[x], &next, weights[x + 1]);
        }
    });
}

fn filter_columns(
    data: &mut [[f32; 4]],
    width: usize,
    height: usize,
    derivative: &[f32],
    log_feedback: f32,
) {
    let weights: Vec<f32> = rows_from_fn(width, height, |y, row| {
        for (w, &d) in row.iter_mut().zip(&derivative[y * width..(y + 1) * width]) {
            *w = (d * log_feedback).exp();
        }
    });
    for y in 1..height {
        let (done, rest) = data.split_at_mut(y * width);
        let above = &done[(y - 1) * width..];
        for ((pixel, up), &w) in rest[..width]
            .iter_mut()
            .zip(above)
            .zip(&weights[y * width..(y + 1) * width])
        {
            blend(pixel, up, w);
        }
    }
    for y in (0..height - 1).rev() {
        let (head, below) = data.split_at_mut((y + 1) * width);
        let row = &mut head[y * width..];
        for ((pixel, down), &w) in row
            .iter_mut()
            .zip(&below[..width])
            .zip(&weights[(y + 1) * width..(y + 2) * width])
        {
            blend(pixel, down, w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> SmoothParams {
        SmoothParams {
            sigma_space: 10.0,
            sigma_range: 0.05,
            iterations: 3,
        }
    }

    #[test]
    fn flattens_noise_but_keeps_a_strong_edge() {
        let (width, height) = (64, 32);
        let data = (0..width * height)
            .map(|i| {
                let x = i % width;
                let noise = (super::super::noise::hash(i as i32, 0, 3) - 0.5) * 0.04;
                [if x < 32 { 0.2 } else { 0.8 } + noise, 0.0, 0.0]
            })
            .collect();
        let image = LabImage {
            width,
            height,
            data,
        };
        let out = smooth(&image, None, params());
        assert!((out.at(10, 16)[0] - 0.2).abs() < 0.01);
        assert!((out.at(54, 16)[0] - 0.8).abs() < 0.01);
        assert!(out.at(31, 16)[0] < 0.3 && out.at(32, 16)[0] > 0.7);
    }

    #[test]
    fn untrusted_pixels_take_their_neighbours_colour() {
        let (width, height) = (40, 10);
        let image = LabImage {
            width,
            height,
            data: (0..width * height)
                .map(|i| {
                    if i % width < 30 {
                        [0.6, 0.1, 0.0]
                    } else {
                        [0.1, -0.1, 0.0]
                    }
                })
                .collect(),
        };
        let confidence = Plane::from_fn(width, height, |x, _| if x < 25 { 1.0 } else { 0.0 });
        let out = smooth(&image, Some(&confidence), params());
        let filled = out.at(28, 5);
        assert!((filled[0] - 0.6).abs() < 1e-3 && (filled[1] - 0.1).abs() < 1e-3);
    }
}
