//! A single-channel `f32` raster and the separable filters the stylisation builds on.

use super::parallel::{for_each_band, rows_from_fn};
use crate::imaging::blur;

#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    #[cfg(test)]
    pub fn filled(width: usize, height: usize, value: f32) -> Self {
        Plane {
            width,
            height,
            data: vec![value; width * height],
        }
    }

    pub fn from_fn(width: usize, height: usize, f: impl Fn(usize, usize) -> f32 + Sync) -> Self {
        let data = rows_from_fn(width, height, |y, row| {
            for (x, value) in row.iter_mut().enumerate() {
                *value = f(x, y);
            }
        });
        Plane {
            width,
            height,
            data,
        }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// Bilinear sample at a continuous position (pixel centres on integers), clamped to the edge.
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let max_x = (self.width - 1) as f32;
        let max_y = (self.height - 1) as f32;
        let x = x.clamp(0.0, max_x);
        let y = y.clamp(0.0, max_y);
        let x0 = x.floor() as usize;
        let y0 = y.floor() as usize;
        let x1 = (x0 + 1).min(self.width - 1);
        let y1 = (y0 + 1).min(self.height - 1);
        let fx = x - x0 as f32;
        let fy = y - y0 as f32;
        let top = self.at(x0, y0) + (self.at(x1, y0) - self.at(x0, y0)) * fx;
        let bottom = self.at(x0, y1) + (self.at(x1, y1) - self.at(x0, y1)) * fx;
        top + (bottom - top) * fy
    }

    pub fn map(&self, f: impl Fn(f32) -> f32 + Sync) -> Plane {
        Plane::from_fn(self.width, self.height, |x, y| f(self.at(x, y)))
    }

    /// A Gaussian blur approximated by three box blurs (Kovesi's box sizes), O(1) per pixel
    /// whatever `sigma`; the border is extended by its edge value.
    pub fn gaussian_blur(&self, sigma: f32) -> Plane {
        if sigma < 0.35 || self.is_empty() {
            return self.clone();
        }
        let mut plane = self.clone();
        for radius in blur::box_radii(sigma) {
            plane = plane.box_blur(radius);
        }
        plane
    }

    /// Mean over the (2r+1)² square around each pixel, the border extended by its edge value.
    pub fn box_blur(&self, radius: usize) -> Plane {
        if radius == 0 || self.is_empty() {
            return self.clone();
        }
        self.box_blur_rows(radius).box_blur_columns(radius)
    }

    fn box_blur_rows(&self, radius: usize) -> Plane {
        let width = self.width;
        let norm = 1.0 / (2 * radius + 1) as f32;
        let last = width as isize - 1;
        let clamp = |i: isize| i.clamp(0, last) as usize;
        let data = rows_from_fn(width, self.height, |y, out| {
            let row = &self.data[y * width..(y + 1) * width];
            let r = radius as isize;
            let mut sum: f32 = (-r..=r).map(|i| row[clamp(i)]).sum();
            for (x, value) in out.iter_mut().enumerate() {
                *value = sum * norm;
                let x = x as isize;
                sum += row[clamp(x + r + 1)] - row[clamp(x - r)];
            }
        });
        Plane {
            width,
            height: self.height,
            data,
        }
    }

    fn box_blur_columns(&self, radius: usize) -> Plane {
        let (width, height) = (self.width, self.height);
        let norm = 1.0 / (2 * radius + 1) as f32;
        let last = height as isize - 1;
        let row = |y: isize| {
            let y = y.clamp(0, last) as usize;
            &self.data[y * width..(y + 1) * width]
        };
        let mut data = vec![0.0; width * height];
        // Each band keeps its own running column sums, so bands are independent.
        for_each_band(&mut data, width, |first, band| {
            let r = radius as isize;
            let y0 = first as isize;
            let mut sums = vec![0.0f32; width];
            for dy in -r..=r {
                for (sum, value) in sums.iter_mut().zip(row(y0 + dy)) {
                    *sum += value;
                }
            }
            for (i, out) in band.chunks_mut(width).enumerate() {
                let y = y0 + i as isize;
                for (value, sum) in out.iter_mut().zip(&sums) {
                    *value = sum * norm;
                }
                let (add, sub) = (row(y + r + 1), row(y - r));
                for ((sum, a), s) in sums.iter_mut().zip(add).zip(sub) {
                    *sum += a - s;
                }
            }
        });
        Plane {
            width,
            height,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_a_flat_plane_flat_and_its_mean() {
        let plane = Plane::filled(37, 23, 0.25);
        let blurred = plane.gaussian_blur(5.0);
        assert!(blurred.data.iter().all(|v| (v - 0.25).abs() < 1e-5));
    }

    #[test]
    fn blur_spreads_an_impulse_like_a_gaussian() {
        let mut plane = Plane::filled(101, 101, 0.0);
        plane.data[50 * 101 + 50] = 1.0;
        let sigma = 4.0;
        let blurred = plane.gaussian_blur(sigma);
        let total: f32 = blurred.data.iter().sum();
        assert!((total - 1.0).abs() < 1e-3, "mass {total}");
        let variance: f32 = (0..101)
            .map(|x| blurred.at(x, 50) * ((x as f32 - 50.0).powi(2)))
            .sum::<f32>()
            / (0..101).map(|x| blurred.at(x, 50)).sum::<f32>();
        assert!(
            (variance.sqrt() - sigma).abs() < 0.6,
            "sigma {}",
            variance.sqrt()
        );
    }

    #[test]
    fn bilinear_sample_interpolates_between_centres() {
        let plane = Plane::from_fn(2, 1, |x, _| x as f32);
        assert!((plane.sample(0.25, 0.0) - 0.25).abs() < 1e-6);
        assert_eq!(plane.sample(-3.0, 7.0), 0.0);
    }
}
