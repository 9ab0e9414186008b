//! Images in Oklab, the space the stylisation smooths, clusters and shades in; the colour
//! conversions themselves are shared in [`crate::imaging::oklab`].

use image::RgbImage;

use super::parallel::rows_from_fn;
use super::plane::Plane;

pub use crate::imaging::oklab::*;

/// An image in Oklab, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct LabImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<Lab>,
}

impl LabImage {
    pub fn from_rgb(image: &RgbImage) -> Self {
        let width = image.width() as usize;
        let raw = image.as_raw();
        let data = rows_from_fn(width, image.height() as usize, |y, row| {
            let src = &raw[y * width * 3..(y + 1) * width * 3];
            for (lab, rgb) in row.iter_mut().zip(src.chunks_exact(3)) {
                *lab = from_srgb8([rgb[0], rgb[1], rgb[2]]);
            }
        });
        LabImage {
            width,
            height: image.height() as usize,
            data,
        }
    }

    #[cfg(test)]
    pub fn to_rgb(&self) -> RgbImage {
        let width = self.width;
        let raw = rows_from_fn(width * 3, self.height, |y, row| {
            let src = &self.data[y * width..(y + 1) * width];
            for (rgb, lab) in row.chunks_exact_mut(3).zip(src) {
                rgb.copy_from_slice(&to_srgb8(*lab));
            }
        });
        RgbImage::from_raw(self.width as u32, self.height as u32, raw)
            .expect("buffer sized to the image")
    }

    pub fn at(&self, x: usize, y: usize) -> Lab {
        self.data[y * self.width + x]
    }

    /// A Gaussian blur of each channel: anti-aliases the borders of flat colour regions.
    pub fn gaussian_blur(&self, sigma: f32) -> LabImage {
        let channel = |c: usize| {
            Plane {
                width: self.width,
                height: self.height,
                data: self.data.iter().map(|lab| lab[c]).collect(),
            }
            .gaussian_blur(sigma)
        };
        let [l, a, b] = [0, 1, 2].map(channel);
        LabImage {
            width: self.width,
            height: self.height,
            data: (0..self.data.len())
                .map(|i| [l.data[i], a.data[i], b.data[i]])
                .collect(),
        }
    }

    pub fn lightness(&self) -> Plane {
        Plane {
            width: self.width,
            height: self.height,
            data: self.data.iter().map(|lab| lab[0]).collect(),
        }
    }
}
