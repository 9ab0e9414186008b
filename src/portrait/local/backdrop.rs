//! The local styles' backgrounds, painted procedurally (no assets to ship or license), and the
//! composite of a stylised cut-out over one.

use image::{Rgba, RgbaImage};

use crate::portrait::styles::Backdrop;

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    let t = t.clamp(0.0, 1.0);
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// Smooth 0..1 falloff from `inner` to `outer` distance.
fn falloff(d: f32, inner: f32, outer: f32) -> f32 {
    let t = ((d - inner) / (outer - inner).max(1e-6)).clamp(0.0, 1.0);
    1.0 - t * t * (3.0 - 2.0 * t)
}

/// One background pixel at (u, v) in 0..1, `seed` moving its features between portraits.
fn paint(kind: Backdrop, u: f32, v: f32, seed: f32) -> [f32; 3] {
    match kind {
        Backdrop::Mist => {
            // Pale sky into white haze, with soft light blooms.
            let mut c = mix([196.0, 214.0, 236.0], [248.0, 246.0, 250.0], v);
            for k in 0..5 {
                let k = k as f32;
                let (cx, cy) = (
                    (0.15 + 0.19 * k + seed * 0.3).fract(),
                    0.2 + 0.12 * (k * 1.7).sin().abs(),
                );
                let d = ((u - cx).powi(2) + (v - cy).powi(2)).sqrt();
                c = mix(c, [255.0, 250.0, 240.0], 0.6 * falloff(d, 0.02, 0.12));
            }
            c
        }
        Backdrop::Moon => {
            // Night blue with a large pale moon and a warm halo.
            let mut c = mix([18.0, 26.0, 64.0], [52.0, 40.0, 92.0], v);
            let (cx, cy) = (0.78 - seed * 0.5, 0.22);
            let d = ((u - cx).powi(2) + (v - cy).powi(2)).sqrt();
            c = mix(c, [120.0, 100.0, 140.0], 0.5 * falloff(d, 0.12, 0.35));
            mix(c, [250.0, 240.0, 205.0], falloff(d, 0.11, 0.125))
        }
        Backdrop::Studio => {
            // A grey paper sweep lit from the centre.
            let d = ((u - 0.5 - (seed - 0.5) * 0.2).powi(2) + (v - 0.4).powi(2)).sqrt();
            mix(
                [70.0, 74.0, 80.0],
                [196.0, 198.0, 202.0],
                falloff(d, 0.0, 0.75),
            )
        }
        Backdrop::Sunset => {
            let sky = mix([255.0, 170.0, 110.0], [250.0, 110.0, 130.0], v);
            let (cx, cy) = (0.3 + seed * 0.4, 0.65);
            let d = ((u - cx).powi(2) + (v - cy).powi(2)).sqrt();
            mix(sky, [255.0, 230.0, 150.0], falloff(d, 0.05, 0.3))
        }
    }
}

/// `subject` (RGBA, transparent background) over the `kind` background of the same size.
pub fn compose(subject: &RgbaImage, kind: Backdrop, seed: f32) -> RgbaImage {
    let (w, h) = subject.dimensions();
    RgbaImage::from_fn(w, h, |x, y| {
        let u = x as f32 / w.max(1) as f32;
        let v = y as f32 / h.max(1) as f32;
        let back = paint(kind, u, v, seed);
        let Rgba([r, g, b, a]) = *subject.get_pixel(x, y);
        let alpha = f32::from(a) / 255.0;
        let front = [f32::from(r), f32::from(g), f32::from(b)];
        let c = mix(back, front, alpha);
        Rgba([
            c[0].round() as u8,
            c[1].round() as u8,
            c[2].round() as u8,
            255,
        ])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opaque_subject_stays_and_transparency_shows_the_background() {
        let mut subject = RgbaImage::from_pixel(40, 40, Rgba([0, 0, 0, 0]));
        subject.put_pixel(20, 20, Rgba([10, 200, 30, 255]));
        for kind in [
            Backdrop::Mist,
            Backdrop::Moon,
            Backdrop::Studio,
            Backdrop::Sunset,
        ] {
            let out = compose(&subject, kind, 0.3);
            assert_eq!(out.get_pixel(20, 20).0, [10, 200, 30, 255]);
            assert_eq!(out.get_pixel(0, 0).0[3], 255);
            assert_ne!(out.get_pixel(0, 0).0[..3], [0, 0, 0]);
        }
    }
}
