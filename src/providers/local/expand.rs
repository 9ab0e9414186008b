//! Expand (outpainting) without a generative model: the grown canvas is filled by the same
//! patch synthesis as watermark removal, so the new border continues the photo's own texture,
//! and a narrow band along the old edge blends from a mirror of the photo into the synthesis
//! so no seam shows.
//!
//! The border copies only from a band of the photo along the edge being grown
//! ([`BAND_FRACTION`] of the photo across that edge) and only from near its own place along
//! the edge ([`REACH_FRACTION`]): it continues the table or the background at that edge and
//! never repeats the subject in the middle of the photo. The coarsest level is grown outwards
//! ring by ring from the photo, finer levels refine it.

use image::{DynamicImage, RgbImage, RgbaImage};

use crate::config::InpaintSettings;
use crate::domain::params::ExpandParams;
use crate::domain::{EncodedImage, ImageFormat, ImageLimits, SourceImage};
use crate::error::{Error, Result};
use crate::media;
use crate::providers::Output;
use crate::providers::local::inpaint;

/// Depth of the band along each edge that the border may copy from, as a fraction of the
/// photo's size across that edge.
pub const BAND_FRACTION: f64 = 0.12;

/// How far along the edge a border patch may look for its source, as a fraction of the
/// photo's length along that edge.
pub const REACH_FRACTION: f64 = 0.2;

/// Where the photo sits on the grown canvas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canvas {
    pub width: u32,
    pub height: u32,
    /// Top-left corner of the photo.
    pub x: u32,
    pub y: u32,
}

/// The canvas for a `w`x`h` photo: each side grows by `(scale - 1)` times the photo's size
/// across it. Checked against the output limits before anything is allocated.
pub fn canvas(w: u32, h: u32, params: &ExpandParams, limits: &ImageLimits) -> Result<Canvas> {
    let grow = |size: u32, scale: f32| (f64::from(size) * (f64::from(scale) - 1.0)).round() as u64;
    let (left, right) = (grow(w, params.left_scale), grow(w, params.right_scale));
    let (top, bottom) = (grow(h, params.top_scale), grow(h, params.bottom_scale));
    let width = u64::from(w) + left + right;
    let height = u64::from(h) + top + bottom;
    if width > u64::from(limits.max_width)
        || height > u64::from(limits.max_height)
        || width * height > limits.max_pixels
    {
        return Err(Error::too_large(
            "base_image",
            format!(
                "the expanded image would be {width}x{height}, beyond the limits \
                 (limits.max_width {}, limits.max_height {}, limits.max_pixels {}); use smaller \
                 scales or a smaller image",
                limits.max_width, limits.max_height, limits.max_pixels
            ),
        ));
    }
    Ok(Canvas {
        width: width as u32,
        height: height as u32,
        x: left as u32,
        y: top as u32,
    })
}

pub fn expand(
    source: &SourceImage,
    params: &ExpandParams,
    settings: &InpaintSettings,
    limits: &ImageLimits,
) -> Result<Output> {
    let (_, decoded) = media::decode(&source.bytes, limits)?;
    let rgb = decoded.to_rgb8();
    let (w, h) = rgb.dimensions();
    let canvas = canvas(w, h, params, limits)?;
    let border = u64::from(canvas.width) * u64::from(canvas.height) - u64::from(w) * u64::from(h);
    if border > settings.max_hole_pixels {
        return Err(Error::too_large(
            "base_image",
            format!(
                "the new border would be {border} pixels, more than inpaint.max_hole_pixels ({}); \
                 use smaller scales or a smaller image",
                settings.max_hole_pixels
            ),
        ));
    }
    let mut notes = vec![
        "the new border was filled by exemplar-based patch synthesis from the photo itself, \
         without a generative model"
            .to_owned(),
    ];
    if params.prompt != ExpandParams::DEFAULT_PROMPT {
        notes.push("prompt was not used: the local provider does not take instructions".into());
    }
    let filled = if border == 0 {
        rgb
    } else {
        let mut placed = RgbImage::new(canvas.width, canvas.height);
        image::imageops::replace(&mut placed, &rgb, i64::from(canvas.x), i64::from(canvas.y));
        let hole: Vec<bool> = (0..canvas.height)
            .flat_map(|y| (0..canvas.width).map(move |x| !inside(&canvas, w, h, x, y)))
            .collect();
        let budget = inpaint::InpaintBudget {
            max_hole_pixels: settings.max_hole_pixels,
            search_pixels: settings.search_pixels,
            iterations: settings.iterations,
        };
        let mut synthesised =
            inpaint::inpaint_from(&placed, &hole, &budget, &sources(&canvas, w, h))?.image;
        blend_seam(&mut synthesised, &canvas, w, h, settings.seam_px);
        synthesised
    };
    let result = if decoded.color().has_alpha() {
        // The photo keeps its transparency; the new border is opaque.
        let mut rgba = DynamicImage::ImageRgb8(filled).to_rgba8();
        let alpha: RgbaImage = decoded.to_rgba8();
        for (x, y, px) in alpha.enumerate_pixels() {
            rgba.get_pixel_mut(x + canvas.x, y + canvas.y).0[3] = px.0[3];
        }
        DynamicImage::ImageRgba8(rgba)
    } else {
        DynamicImage::ImageRgb8(filled)
    };
    let format = params
        .output
        .format
        .unwrap_or(if source.format.is_writable() {
            source.format
        } else {
            ImageFormat::Png
        });
    Ok(Output {
        images: vec![EncodedImage {
            bytes: media::encode(&result, format, params.output.quality)?,
            format,
            width: result.width(),
            height: result.height(),
        }],
        notes,
        task: None,
    })
}

/// The band along the photo's edges the border may copy from.
pub fn sources(canvas: &Canvas, w: u32, h: u32) -> inpaint::Sources {
    let min_band = (2 * inpaint::PATCH_RADIUS + 4) as u32;
    let band = ((f64::from(w.min(h)) * BAND_FRACTION).round() as u32).max(min_band);
    let reach = ((f64::from(w.max(h)) * REACH_FRACTION).round() as u32).max(min_band);
    inpaint::Sources::NearEdge {
        x0: canvas.x,
        y0: canvas.y,
        x1: canvas.x + w,
        y1: canvas.y + h,
        band,
        reach,
    }
}

fn inside(canvas: &Canvas, w: u32, h: u32, x: u32, y: u32) -> bool {
    x >= canvas.x && x < canvas.x + w && y >= canvas.y && y < canvas.y + h
}

/// Within `band` pixels of the photo, fades from the photo mirrored across its edge (which
/// meets the edge without a step) to the synthesised texture.
fn blend_seam(image: &mut RgbImage, canvas: &Canvas, w: u32, h: u32, band: u32) {
    if band == 0 {
        return;
    }
    let (x0, y0) = (i64::from(canvas.x), i64::from(canvas.y));
    let (x1, y1) = (x0 + i64::from(w), y0 + i64::from(h));
    let reflect = |v: i64, lo: i64, hi: i64| -> i64 {
        let r = if v < lo {
            2 * lo - v - 1
        } else if v >= hi {
            2 * hi - v - 1
        } else {
            v
        };
        r.clamp(lo, hi - 1)
    };
    let original = image.clone();
    for y in 0..i64::from(canvas.height) {
        for x in 0..i64::from(canvas.width) {
            let dx = (x0 - x).max(x - (x1 - 1)).max(0);
            let dy = (y0 - y).max(y - (y1 - 1)).max(0);
            let d = dx.max(dy);
            if d == 0 || d > i64::from(band) {
                continue;
            }
            let (mx, my) = (reflect(x, x0, x1), reflect(y, y0, y1));
            let mirror = original.get_pixel(mx as u32, my as u32);
            let t = d as f32 / (band as f32 + 1.0);
            let px = image.get_pixel_mut(x as u32, y as u32);
            for c in 0..3 {
                let v = (1.0 - t) * f32::from(mirror[c]) + t * f32::from(px[c]);
                px[c] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::params::OutputSpec;

    #[test]
    fn each_side_grows_by_its_scale() {
        let params = ExpandParams::new(
            [Some(1.5), Some(1.0), Some(2.0), None],
            None,
            OutputSpec::default(),
        )
        .unwrap();
        let c = canvas(100, 40, &params, &ImageLimits::default()).unwrap();
        assert_eq!(
            c,
            Canvas {
                width: 100 + 100 + 50,
                height: 40 + 20,
                x: 100,
                y: 20
            }
        );
    }

    #[test]
    fn an_expansion_beyond_the_pixel_limit_is_refused_before_work() {
        let params = ExpandParams::new([Some(4.0); 4], None, OutputSpec::default()).unwrap();
        let limits = ImageLimits {
            max_pixels: 1_000_000,
            ..ImageLimits::default()
        };
        let err = canvas(500, 500, &params, &limits).unwrap_err();
        assert_eq!(err.code, crate::error::ErrorCode::PayloadTooLarge);
        assert!(err.message.contains("limits.max_pixels"), "{}", err.message);
    }

    /// A noisy grey photo with a red square (the subject) in its middle.
    fn subject_photo(w: u32, h: u32) -> RgbImage {
        let mut rng = fastrand::Rng::with_seed(11);
        RgbImage::from_fn(w, h, |x, y| {
            let centre = x > w / 3 && x < 2 * w / 3 && y > h / 3 && y < 2 * h / 3;
            if centre {
                image::Rgb([230, 20, 20])
            } else {
                let v = 100 + rng.u8(..40) + ((x + y) % 8) as u8 * 4;
                image::Rgb([v, v, v])
            }
        })
    }

    #[test]
    fn the_border_copies_only_from_the_band_along_the_edge_never_the_centre() {
        let (w, h) = (120u32, 90u32);
        let photo = subject_photo(w, h);
        let params = ExpandParams::new([Some(1.5); 4], None, OutputSpec::default()).unwrap();
        let c = canvas(w, h, &params, &ImageLimits::default()).unwrap();
        let mut placed = RgbImage::new(c.width, c.height);
        image::imageops::replace(&mut placed, &photo, i64::from(c.x), i64::from(c.y));
        let hole: Vec<bool> = (0..c.height)
            .flat_map(|y| (0..c.width).map(move |x| !inside(&c, w, h, x, y)))
            .collect();
        let sources = sources(&c, w, h);
        let inpaint::Sources::NearEdge { band, .. } = sources else {
            panic!("expand must limit its sources");
        };
        let filled =
            inpaint::inpaint_from(&placed, &hole, &inpaint::InpaintBudget::default(), &sources)
                .unwrap();
        // Every border pixel's patch comes from within `band` of the photo's edge.
        let cw = c.width as usize;
        let mut checked = 0;
        for (i, &m) in filled.matches.iter().enumerate() {
            if m == u32::MAX || !hole[i] {
                continue;
            }
            let (sx, sy) = (m as usize % cw, m as usize / cw);
            let (px, py) = (sx as u32 - c.x, sy as u32 - c.y);
            let depth = px.min(py).min(w - 1 - px).min(h - 1 - py);
            assert!(
                depth < band,
                "pixel {i} copies from {px},{py}, {depth} px inside"
            );
            checked += 1;
        }
        assert_eq!(checked, hole.iter().filter(|&&m| m).count());
        // So nothing of the red subject appears in the border.
        for (p, &m) in filled.image.pixels().zip(&hole) {
            if m {
                assert!(
                    i32::from(p[0]) - i32::from(p[1]) < 40,
                    "subject colour {p:?} in the border"
                );
            }
        }
    }
}
