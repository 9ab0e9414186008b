//! The finished piece at work resolution, and its composite at the photo's resolution.
//!
//! A preset hands over paint (a colour and the signed distance to the paint's edge) and a
//! drawn layer over it (ink or pencil coverage with its colour). Compositing samples them at
//! every photo pixel of the frame: the alpha edge is re-derived from the distance, so it is
//! crisp at any scale, and ink is re-sharpened after upscaling so lines stay clean.

use image::RgbaImage;

use super::frame::Frame;
use super::oklab::{Lab, LabImage, distance_squared, mix, to_srgb8};
use super::parallel::for_each_row;
use super::plane::Plane;

pub struct Artwork {
    pub paint: LabImage,
    /// Signed distance (work pixels) to the paint's edge, negative inside.
    pub paint_edge: Plane,
    /// Width (photo pixels) of the alpha ramp across the paint's edge.
    pub edge_softness: f32,
    /// Coverage of the drawn layer (0..1).
    pub lines: Plane,
    /// The drawn layer's colour over a given paint colour.
    pub line_colour: fn(Lab) -> Lab,
    /// Whether lines are solid ink to keep crisp when upscaled (pencil is not).
    pub crisp_lines: bool,
    /// Whether the paint is flat regions whose borders should stay crisp when upscaled.
    pub crisp_paint: bool,
}

impl Artwork {
    /// Colour and alpha at work position (`x`, `y`), `upscale` photo pixels per work pixel.
    fn sample(&self, x: f32, y: f32, upscale: f32) -> (Lab, f32) {
        let paint = if self.crisp_paint && upscale > 1.0 {
            sample_flat(&self.paint, x, y, upscale)
        } else {
            sample_lab(&self.paint, x, y)
        };
        let edge = self.paint_edge.sample(x, y) * upscale;
        let paint_alpha = (0.5 - edge / self.edge_softness.max(1e-3)).clamp(0.0, 1.0);
        let mut line = self.lines.sample(x, y).clamp(0.0, 1.0);
        if self.crisp_lines && upscale > 1.0 {
            // Bilinear upscaling stretched the lines' one-pixel anti-aliasing ramp; steepen it
            // back to one photo pixel.
            line = ((line - 0.4) * upscale + 0.4).clamp(0.0, 1.0);
        }
        let alpha = line + paint_alpha * (1.0 - line);
        if alpha <= 0.0 {
            return (paint, 0.0);
        }
        let colour = mix(paint, (self.line_colour)(paint), line / alpha);
        (colour, alpha)
    }
}

fn sample_lab(image: &LabImage, x: f32, y: f32) -> Lab {
    let x = x.clamp(0.0, (image.width - 1) as f32);
    let y = y.clamp(0.0, (image.height - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = (
        (x0 + 1).min(image.width - 1),
        (y0 + 1).min(image.height - 1),
    );
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = mix(image.at(x0, y0), image.at(x1, y0), fx);
    let bottom = mix(image.at(x0, y1), image.at(x1, y1), fx);
    mix(top, bottom, fy)
}

/// Upscales flat colour regions without blurring their borders: the bilinear colour is
/// snapped toward the nearer of the two most different neighbouring colours, with the
/// transition steepened to one photo pixel. Borders follow the bilinear iso-lines, so they
/// stay smooth, not stair-stepped.
fn sample_flat(image: &LabImage, x: f32, y: f32, upscale: f32) -> Lab {
    let smooth = sample_lab(image, x, y);
    let x = x.clamp(0.0, (image.width - 1) as f32);
    let y = y.clamp(0.0, (image.height - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = (
        (x0 + 1).min(image.width - 1),
        (y0 + 1).min(image.height - 1),
    );
    let corners = [
        image.at(x0, y0),
        image.at(x1, y0),
        image.at(x0, y1),
        image.at(x1, y1),
    ];
    let mut pair = (corners[0], corners[0], 0.0f32);
    for i in 0..4 {
        for j in i + 1..4 {
            let d = distance_squared(corners[i], corners[j]);
            if d > pair.2 {
                pair = (corners[i], corners[j], d);
            }
        }
    }
    let (from, to, span) = pair;
    if span < 1e-6 {
        return smooth;
    }
    let along = (0..3)
        .map(|c| (smooth[c] - from[c]) * (to[c] - from[c]))
        .sum::<f32>()
        / span;
    let t = ((along - 0.5) * upscale + 0.5).clamp(0.0, 1.0);
    mix(from, to, t)
}

/// The artwork composited into a transparent canvas of the photo's size.
pub fn render(artwork: &Artwork, frame: &Frame, width: u32, height: u32) -> RgbaImage {
    let upscale = 1.0 / frame.factor();
    let mut raw = vec![0u8; width as usize * height as usize * 4];
    for_each_row(&mut raw, width as usize * 4, |y, row| {
        for (x, rgba) in row.chunks_exact_mut(4).enumerate() {
            let Some((wx, wy)) = frame.to_work(x as u32, y as u32) else {
                continue;
            };
            let (colour, alpha) = artwork.sample(wx, wy, upscale);
            if alpha <= 0.0 {
                continue;
            }
            rgba[..3].copy_from_slice(&to_srgb8(colour));
            rgba[3] = (alpha * 255.0).round() as u8;
        }
    });
    RgbaImage::from_raw(width, height, raw).expect("buffer sized to the image")
}
