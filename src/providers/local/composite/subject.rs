//! Finding the subject in its alpha, moving it onto the canvas and feathering its edge.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::pixels::F32x4;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{GrayImage, RgbImage};

use super::Placement;
use super::blur::{Plane, gaussian_blur};
use super::foreground;
use crate::error::{Error, Result};

/// Alpha at or above this is the subject's body: its box is what placement measures.
pub(super) const SOLID: u8 = 128;
/// Alpha below this is matte noise, not worth carrying to the canvas.
const TRACE: u8 = 4;

/// A half-open pixel rectangle `[x0, x1) × [y0, y1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PixelRect {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

impl PixelRect {
    pub fn width(&self) -> usize {
        self.x1 - self.x0
    }

    pub fn height(&self) -> usize {
        self.y1 - self.y0
    }

    pub fn is_empty(&self) -> bool {
        self.x1 <= self.x0 || self.y1 <= self.y0
    }

    /// Grown by `margin` on every side, clipped to a `width` × `height` image.
    pub fn grow(self, margin: usize, width: usize, height: usize) -> Self {
        PixelRect {
            x0: self.x0.saturating_sub(margin),
            y0: self.y0.saturating_sub(margin),
            x1: (self.x1 + margin).min(width),
            y1: (self.y1 + margin).min(height),
        }
    }
}

/// A rectangle in canvas coordinates that may reach past the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Frame {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl Frame {
    pub fn height(&self) -> f32 {
        self.y1 - self.y0
    }

    /// The pixels of a `width` × `height` canvas this frame covers, grown by `margin` pixels.
    pub fn pixels(&self, margin: f32, width: usize, height: usize) -> PixelRect {
        let clip = |v: f32, max: usize| v.clamp(0.0, max as f32) as usize;
        PixelRect {
            x0: clip((self.x0 - margin).floor(), width),
            y0: clip((self.y0 - margin).floor(), height),
            x1: clip((self.x1 + margin).ceil(), width),
            y1: clip((self.y1 + margin).ceil(), height),
        }
    }
}

/// The box of the pixels whose alpha is at least `threshold`, if any.
pub(super) fn bounds(alpha: &GrayImage, threshold: u8) -> Option<PixelRect> {
    let width = alpha.width() as usize;
    let mut found: Option<PixelRect> = None;
    for (y, row) in alpha.as_raw().chunks(width.max(1)).enumerate() {
        let Some(first) = row.iter().position(|&a| a >= threshold) else {
            continue;
        };
        let last = row.iter().rposition(|&a| a >= threshold).unwrap_or(first);
        found = Some(match found {
            None => PixelRect {
                x0: first,
                y0: y,
                x1: last + 1,
                y1: y + 1,
            },
            Some(rect) => PixelRect {
                x0: rect.x0.min(first),
                y0: rect.y0,
                x1: rect.x1.max(last + 1),
                y1: y + 1,
            },
        });
    }
    found
}

/// Where the subject goes: a canvas point is `source · scale + offset`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Transform {
    pub scale: f32,
    pub dx: f32,
    pub dy: f32,
}

impl Transform {
    /// The transform that puts the bottom centre of the subject's box at (`x`, `y`) and makes
    /// it `scale` of the canvas height. A field left unset keeps the subject's own value, so
    /// the default placement is the identity: the subject stays where it was in the photo.
    pub fn new(placement: &Placement, subject: PixelRect, width: u32, height: u32) -> Self {
        let centre_x = (subject.x0 + subject.x1) as f32 / 2.0;
        let bottom = subject.y1 as f32;
        let scale = placement
            .scale
            .map_or(1.0, |s| s * height as f32 / subject.height() as f32);
        let target_x = placement.x.map_or(centre_x, |x| x * width as f32);
        let target_y = placement.y.map_or(bottom, |y| y * height as f32);
        Transform {
            scale,
            dx: target_x - centre_x * scale,
            dy: target_y - bottom * scale,
        }
    }

    pub fn apply(&self, rect: PixelRect) -> Frame {
        Frame {
            x0: rect.x0 as f32 * self.scale + self.dx,
            y0: rect.y0 as f32 * self.scale + self.dy,
            x1: rect.x1 as f32 * self.scale + self.dx,
            y1: rect.y1 as f32 * self.scale + self.dy,
        }
    }
}

/// The subject on the canvas: its colours (sRGB, 0..=1, meaningful wherever alpha can become
/// non-zero after feathering) and its alpha, both canvas-sized; `rect` bounds where they are
/// set.
pub(super) struct Layer {
    pub colour: [Plane; 3],
    pub alpha: Plane,
    pub rect: PixelRect,
}

/// Cuts the subject out of `base` with its foreground colours recovered and resamples it
/// (Lanczos3) onto a canvas of the base's size. `reach` is how far, in canvas pixels, the
/// colours must extend past the matte for the feather and the resampler to read.
pub(super) fn place(
    base: &RgbImage,
    alpha: &GrayImage,
    transform: &Transform,
    reach: f32,
) -> Result<Layer> {
    let (width, height) = (base.width() as usize, base.height() as usize);
    let mut layer = Layer {
        colour: std::array::from_fn(|_| Plane::zeros(width, height)),
        alpha: Plane::zeros(width, height),
        rect: PixelRect {
            x0: 0,
            y0: 0,
            x1: 0,
            y1: 0,
        },
    };
    let Some(trace) = bounds(alpha, TRACE) else {
        return Ok(layer);
    };
    let margin = (reach / transform.scale).ceil() as usize + 3;
    let region = trace.grow(margin, width, height);
    let (source, source_alpha) = crop_planes(base, alpha, region);
    let coarse = (width.max(height) / 40).max(margin + 2);
    let colour = foreground::estimate(&source, &source_alpha, coarse, (coarse / 4).max(2));

    let shift = (transform.dx.round(), transform.dy.round());
    if transform.scale == 1.0 && (transform.dx, transform.dy) == shift {
        layer.rect = paste(&mut layer, &colour, &source_alpha, region, shift);
        return Ok(layer);
    }
    let frame = transform.apply(region);
    let target = PixelRect {
        x0: (frame.x0 - 1e-3).ceil().clamp(0.0, width as f32) as usize,
        y0: (frame.y0 - 1e-3).ceil().clamp(0.0, height as f32) as usize,
        x1: (frame.x1 + 1e-3).floor().clamp(0.0, width as f32) as usize,
        y1: (frame.y1 + 1e-3).floor().clamp(0.0, height as f32) as usize,
    };
    if target.is_empty() {
        return Ok(layer);
    }
    let pixels: Vec<F32x4> = (0..region.width() * region.height())
        .map(|i| {
            F32x4::new([
                colour[0].data[i],
                colour[1].data[i],
                colour[2].data[i],
                source_alpha.data[i],
            ])
        })
        .collect();
    let resampled = resample(
        &pixels,
        region,
        target,
        transform,
        (region.width() as f64, region.height() as f64),
    )?;
    for (row, y) in resampled.chunks(target.width()).zip(target.y0..target.y1) {
        for (pixel, x) in row.iter().zip(target.x0..target.x1) {
            let i = y * width + x;
            let [r, g, b, a] = pixel.0;
            layer.colour[0].data[i] = r.clamp(0.0, 1.0);
            layer.colour[1].data[i] = g.clamp(0.0, 1.0);
            layer.colour[2].data[i] = b.clamp(0.0, 1.0);
            layer.alpha.data[i] = a.clamp(0.0, 1.0);
        }
    }
    layer.rect = target;
    Ok(layer)
}

/// Copies planes laid out over `region` onto the layer moved by whole pixels (`shift`),
/// clipped to the canvas; returns the canvas rectangle written. Placement without scaling
/// (the default) takes this path, so the subject's pixels are carried over exactly.
fn paste(
    layer: &mut Layer,
    colour: &[Plane; 3],
    alpha: &Plane,
    region: PixelRect,
    (dx, dy): (f32, f32),
) -> PixelRect {
    let (width, height) = (layer.alpha.width as isize, layer.alpha.height as isize);
    let (dx, dy) = (dx as isize, dy as isize);
    let clip = |v: isize, max: isize| v.clamp(0, max) as usize;
    let target = PixelRect {
        x0: clip(region.x0 as isize + dx, width),
        y0: clip(region.y0 as isize + dy, height),
        x1: clip(region.x1 as isize + dx, width),
        y1: clip(region.y1 as isize + dy, height),
    };
    if target.is_empty() {
        return target;
    }
    let (source_x0, run) = (
        (target.x0 as isize - dx) as usize - region.x0,
        target.width(),
    );
    for y in target.y0..target.y1 {
        let source_row = (y as isize - dy) as usize - region.y0;
        let from = source_row * region.width() + source_x0;
        let to = y * width as usize + target.x0;
        for (destination, source) in layer
            .colour
            .iter_mut()
            .chain(std::iter::once(&mut layer.alpha))
            .zip(colour.iter().chain(std::iter::once(alpha)))
        {
            destination.data[to..to + run].copy_from_slice(&source.data[from..from + run]);
        }
    }
    target
}

/// `region` of the base image and of its alpha as planes scaled to 0..=1.
fn crop_planes(base: &RgbImage, alpha: &GrayImage, region: PixelRect) -> ([Plane; 3], Plane) {
    let (w, h) = (region.width(), region.height());
    let stride = base.width() as usize;
    let mut colour: [Plane; 3] = std::array::from_fn(|_| Plane::zeros(w, h));
    let mut matte = Plane::zeros(w, h);
    for y in 0..h {
        let start = (region.y0 + y) * stride + region.x0;
        let rgb = &base.as_raw()[start * 3..(start + w) * 3];
        let a = &alpha.as_raw()[start..start + w];
        for (x, (pixel, &a)) in rgb.chunks_exact(3).zip(a).enumerate() {
            let i = y * w + x;
            for (plane, &value) in colour.iter_mut().zip(pixel) {
                plane.data[i] = f32::from(value) / 255.0;
            }
            matte.data[i] = f32::from(a) / 255.0;
        }
    }
    (colour, matte)
}

/// Resamples the part of `pixels` (laid out over `region`) that lands on `target`. Colours
/// are already free of the old background, so they are filtered as they are, not
/// premultiplied: premultiplying would throw away the colour that the feather reveals.
fn resample(
    pixels: &[F32x4],
    region: PixelRect,
    target: PixelRect,
    transform: &Transform,
    (source_width, source_height): (f64, f64),
) -> Result<Vec<F32x4>> {
    let failed = |e: &dyn std::fmt::Display| Error::internal(format!("placing the subject: {e}"));
    let source = ImageRef::from_pixels(region.width() as u32, region.height() as u32, pixels)
        .map_err(|e| failed(&e))?;
    let scale = f64::from(transform.scale);
    let left = ((target.x0 as f64 - f64::from(transform.dx)) / scale - region.x0 as f64)
        .clamp(0.0, source_width);
    let top = ((target.y0 as f64 - f64::from(transform.dy)) / scale - region.y0 as f64)
        .clamp(0.0, source_height);
    let crop_width = (target.width() as f64 / scale).min(source_width - left);
    let crop_height = (target.height() as f64 / scale).min(source_height - top);
    let mut destination = Image::new(
        target.width() as u32,
        target.height() as u32,
        PixelType::F32x4,
    );
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .use_alpha(false)
        .crop(left, top, crop_width, crop_height);
    Resizer::new()
        .resize(&source, &mut destination, &options)
        .map_err(|e| failed(&e))?;
    let typed = destination
        .typed_image::<F32x4>()
        .ok_or_else(|| Error::internal("placing the subject: unexpected pixel type"))?;
    Ok(typed.pixels().to_vec())
}

/// Softens the edge by a Gaussian of `sigma` pixels, only ever raising alpha: a hard edge
/// gains a soft outer rim, while thin strands and the solid body keep their full opacity (a
/// plain blur would thin hair and erode the silhouette).
pub(super) fn feather(alpha: &mut Plane, sigma: f32) {
    if sigma <= 0.0 {
        return;
    }
    let blurred = gaussian_blur(alpha, sigma);
    for (a, b) in alpha.data.iter_mut().zip(&blurred.data) {
        *a = a.max(*b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    fn square_matte(size: u32, rect: PixelRect) -> GrayImage {
        GrayImage::from_fn(size, size, |x, y| {
            let inside = (rect.x0..rect.x1).contains(&(x as usize))
                && (rect.y0..rect.y1).contains(&(y as usize));
            Luma([if inside { 255 } else { 0 }])
        })
    }

    #[test]
    fn bounds_cover_exactly_the_pixels_over_the_threshold() {
        let rect = PixelRect {
            x0: 3,
            y0: 5,
            x1: 11,
            y1: 9,
        };
        let matte = square_matte(16, rect);
        assert_eq!(bounds(&matte, SOLID), Some(rect));
        assert_eq!(bounds(&GrayImage::new(16, 16), SOLID), None);
    }

    #[test]
    fn default_placement_is_the_identity() {
        let rect = PixelRect {
            x0: 3,
            y0: 5,
            x1: 12,
            y1: 9,
        };
        let transform = Transform::new(&Placement::default(), rect, 40, 30);
        assert_eq!(
            transform,
            Transform {
                scale: 1.0,
                dx: 0.0,
                dy: 0.0
            }
        );
    }

    #[test]
    fn feather_softens_outward_without_eroding() {
        let mut alpha = Plane::zeros(32, 1);
        alpha.data[10..20].fill(1.0);
        alpha.data[25] = 1.0;
        let before = alpha.clone();
        feather(&mut alpha, 1.5);
        assert!(alpha.data.iter().zip(&before.data).all(|(a, b)| a >= b));
        assert!(alpha.data[9] > 0.2 && alpha.data[9] < 0.7);
        assert_eq!(alpha.data[25], 1.0, "a one-pixel strand keeps its opacity");
    }
}
