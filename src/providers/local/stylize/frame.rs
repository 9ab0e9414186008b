//! The working frame: the subject's bounding box plus a margin, at a resolution where the
//! subject is at most [`WORK_SUBJECT`] pixels tall or wide.
//!
//! Painting happens at that size, whatever the photo's: the cost stays bounded, and every
//! preset looks the same at 512 or 1024 px. Only the final composite, with its crisp alpha
//! and lines, runs at the photo's resolution.

use image::{DynamicImage, GrayImage, RgbImage};

use crate::error::Result;
use crate::imaging::resize::resize_to;

/// The subject size painting happens at; the style parameters are tuned around it.
pub const WORK_SUBJECT: f32 = 480.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// The crop in the photo.
    pub x0: u32,
    pub y0: u32,
    pub width: u32,
    pub height: u32,
    /// The crop's size once scaled for work.
    pub work_width: u32,
    pub work_height: u32,
}

impl Frame {
    /// The frame around the pixels of `alpha` at or above one half; `None` if there are none.
    pub fn around(alpha: &GrayImage) -> Option<Frame> {
        let (w, h) = alpha.dimensions();
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        for (x, y, p) in alpha.enumerate_pixels() {
            if p.0[0] >= 128 {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
            }
        }
        if x0 > x1 {
            return None;
        }
        let side = (x1 - x0 + 1).max(y1 - y0 + 1);
        // Room for outlines and wandering watercolour edges around the subject.
        let margin = (side as f32 * 0.08).ceil() as u32 + 8;
        let (x0, y0) = (x0.saturating_sub(margin), y0.saturating_sub(margin));
        let x1 = (x1 + margin).min(w - 1);
        let y1 = (y1 + margin).min(h - 1);
        let (width, height) = (x1 - x0 + 1, y1 - y0 + 1);
        let factor = (WORK_SUBJECT / side as f32).min(1.0);
        let work = |v: u32| ((v as f32 * factor).round() as u32).max(1);
        Some(Frame {
            x0,
            y0,
            width,
            height,
            work_width: work(width),
            work_height: work(height),
        })
    }

    pub fn is_scaled(&self) -> bool {
        (self.work_width, self.work_height) != (self.width, self.height)
    }

    /// Work pixels per photo pixel (≤ 1).
    pub fn factor(&self) -> f32 {
        self.work_width as f32 / self.width as f32
    }

    pub fn image(&self, image: &RgbImage) -> Result<RgbImage> {
        let crop =
            image::imageops::crop_imm(image, self.x0, self.y0, self.width, self.height).to_image();
        if !self.is_scaled() {
            return Ok(crop);
        }
        Ok(resize_to(
            &DynamicImage::ImageRgb8(crop),
            self.work_width,
            self.work_height,
        )?
        .to_rgb8())
    }

    pub fn mask(&self, alpha: &GrayImage) -> Result<GrayImage> {
        let crop =
            image::imageops::crop_imm(alpha, self.x0, self.y0, self.width, self.height).to_image();
        if !self.is_scaled() {
            return Ok(crop);
        }
        Ok(resize_to(
            &DynamicImage::ImageLuma8(crop),
            self.work_width,
            self.work_height,
        )?
        .to_luma8())
    }

    /// The work-raster position of the centre of photo pixel (`x`, `y`), `None` outside the
    /// frame.
    pub fn to_work(self, x: u32, y: u32) -> Option<(f32, f32)> {
        if x < self.x0 || y < self.y0 || x >= self.x0 + self.width || y >= self.y0 + self.height {
            return None;
        }
        let sx = self.work_width as f32 / self.width as f32;
        let sy = self.work_height as f32 / self.height as f32;
        Some((
            (x - self.x0) as f32 * sx + 0.5 * sx - 0.5,
            (y - self.y0) as f32 * sy + 0.5 * sy - 0.5,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_the_subject_with_a_margin() {
        let alpha = GrayImage::from_fn(200, 100, |x, y| {
            image::Luma([if (50..70).contains(&x) && (40..60).contains(&y) {
                255
            } else {
                0
            }])
        });
        let frame = Frame::around(&alpha).unwrap();
        assert!(frame.x0 < 50 && frame.x0 + frame.width > 70);
        assert!(frame.y0 < 40 && frame.y0 + frame.height > 60);
        assert!(!frame.is_scaled());
        assert_eq!(frame.to_work(0, 0), None);
        assert_eq!(frame.to_work(frame.x0 + 3, frame.y0 + 2), Some((3.0, 2.0)));
    }

    #[test]
    fn a_large_subject_is_worked_on_smaller() {
        let alpha = GrayImage::from_pixel(1000, 800, image::Luma([255]));
        let frame = Frame::around(&alpha).unwrap();
        assert_eq!((frame.width, frame.height), (1000, 800));
        assert_eq!((frame.work_width, frame.work_height), (480, 384));
        let (x, y) = frame.to_work(999, 799).unwrap();
        assert!(
            (x - 479.26).abs() < 0.01 && (y - 383.26).abs() < 0.01,
            "{x} {y}"
        );
    }

    #[test]
    fn an_empty_mask_has_no_frame() {
        assert_eq!(Frame::around(&GrayImage::new(10, 10)), None);
    }
}
