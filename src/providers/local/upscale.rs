//! Super-resolution with Real-ESRGAN's published ncnn files, run on ONNX Runtime.
//!
//! The `.param`/`.bin` pair is read and converted to an ONNX graph in memory when a session is
//! created (see `models::ncnn_onnx`), so the operator installs exactly the files Real-ESRGAN
//! publishes. Inputs larger than a tile are cut into `tile_size` squares, each given
//! `tile_overlap` pixels of context on every side that is not an image border; the context's
//! share of the result is discarded, so tiles join without seams and one inference's memory
//! is bounded by the tile size whatever the image size.

use std::path::PathBuf;

use image::RgbImage;
use ort::value::TensorRef;

use crate::config::SuperResolutionSettings;
use crate::error::{Error, ErrorCode, Result};
use crate::providers::local::models::registry::{self, ModelSpec};
use crate::providers::local::models::runtime::{Runtime, Slot};
use crate::providers::local::models::{install, ncnn, ncnn_onnx};

/// A network and the factor it enlarges by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Network {
    pub spec: &'static ModelSpec,
    pub scale: u32,
}

/// Runs the configured Real-ESRGAN model. Cheap to create: nothing is loaded before the first
/// image.
#[derive(Debug, Clone)]
pub struct Upscaler {
    runtime: Runtime,
    dir: PathBuf,
    settings: SuperResolutionSettings,
}

impl Upscaler {
    pub fn new(runtime: Runtime) -> Self {
        let settings = runtime.settings();
        Upscaler {
            dir: settings.dir.clone(),
            settings: settings.super_resolution.clone(),
            runtime,
        }
    }

    pub fn settings(&self) -> &SuperResolutionSettings {
        &self.settings
    }

    /// Whether every network of the configured model is installed and ONNX Runtime loads.
    pub fn is_ready(&self) -> bool {
        self.readiness().is_ok()
    }

    /// What keeps fix from running: a network file missing or ONNX Runtime not loading,
    /// which need different fixes.
    pub fn readiness(&self) -> Result<()> {
        for factor in [1, 2, 3, 4] {
            self.network(factor)?;
        }
        self.runtime.library().map(|_| ())
    }

    /// The network serving `factor` (1–4): the model's graph of that factor when it has one,
    /// else its x4 graph (whose result is then resampled down).
    pub fn network(&self, factor: u32) -> Result<Network> {
        let family = self.settings.model.as_str();
        let scale = if factor <= 2 && family == "realesr-animevideov3" {
            2
        } else {
            4
        };
        let name = match family {
            "realesr-animevideov3" => format!("{family}-x{scale}"),
            other => other.to_owned(),
        };
        let spec = registry::find(&name).ok_or_else(|| {
            Error::internal(format!(
                "super-resolution model {name} is not in the registry"
            ))
        })?;
        if !install::is_installed(&self.dir, spec) {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "super-resolution model `{name}` is not installed in {}; run `imgforge models fetch {name}`",
                    self.dir.display()
                ),
            )
            .with_field("model"));
        }
        Ok(Network { spec, scale })
    }

    /// `image` enlarged `network.scale` times. Blocking: call it from a blocking pool.
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(model = network.spec.name, width = image.width(), height = image.height())
    )]
    pub fn upscale(&self, image: &RgbImage, network: Network) -> Result<RgbImage> {
        let tile = self.settings.tile_for(&self.settings.model);
        let overlap = self.settings.tile_overlap;
        self.upscale_tiled(image, network, tile, overlap)
    }

    /// [`Upscaler::upscale`] with an explicit tiling (tests compare tilings).
    pub fn upscale_tiled(
        &self,
        image: &RgbImage,
        network: Network,
        tile: u32,
        overlap: u32,
    ) -> Result<RgbImage> {
        let (width, height) = image.dimensions();
        if width == 0 || height == 0 {
            return Err(Error::invalid("image", "the image is empty"));
        }
        let scale = network.scale;
        let mut out = RgbImage::new(width * scale, height * scale);
        let key = install::file_path(&self.dir, network.spec.main_file());
        for y0 in (0..height).step_by(tile.max(1) as usize) {
            for x0 in (0..width).step_by(tile.max(1) as usize) {
                let core = Rect {
                    x: x0,
                    y: y0,
                    w: tile.min(width - x0),
                    h: tile.min(height - y0),
                };
                let context = core.grown(overlap, width, height);
                let input = planar(image, context);
                let result = self.runtime.with_built_session(
                    &key,
                    || self.build(network.spec),
                    |slot| infer(slot, network.spec, &input, context, scale),
                )?;
                paste(&result, context, core, scale, &mut out);
            }
        }
        Ok(out)
    }

    /// The ONNX model of `spec`'s ncnn files.
    fn build(&self, spec: &ModelSpec) -> Result<Vec<u8>> {
        let [param, bin] = spec.files else {
            return Err(Error::internal(format!(
                "{}: an ncnn model has a .param and a .bin",
                spec.name
            )));
        };
        let read = |file| {
            let path = install::file_path(&self.dir, file);
            std::fs::read(&path).map_err(|e| {
                Error::new(
                    ErrorCode::FailedPrecondition,
                    format!("cannot read {}: {e}", path.display()),
                )
            })
        };
        let param_text = String::from_utf8(read(param)?).map_err(|_| {
            Error::new(
                ErrorCode::FailedPrecondition,
                format!("{}: the .param is not text", spec.name),
            )
        })?;
        let mut graph = ncnn::Graph::parse(&param_text, &read(bin)?, spec.name)?;
        // The halving is done by `halve_bicubic` after the session; `infer` sees it from the
        // output's size.
        if ends_with_half_bicubic(&graph) {
            graph.layers.pop();
        }
        ncnn_onnx::to_onnx(&graph, spec.name)
    }
}

/// Whether the graph's last layer is a 0.5x bicubic `Interp` (animevideov3-x2 runs its x4
/// network and halves the result). ONNX Runtime's generic cubic `Resize` took ~13 % of that
/// graph's time; the fixed 4-tap filter below costs a small fraction of it.
fn ends_with_half_bicubic(graph: &ncnn::Graph) -> bool {
    let half = ncnn::Interp {
        mode: ncnn::InterpMode::Bicubic,
        height_scale: 0.5,
        width_scale: 0.5,
    };
    graph.layers.len() > 1
        && graph
            .layers
            .last()
            .is_some_and(|l| l.op == ncnn::Op::Interp(half))
}

/// Weights of ncnn's (and ONNX's) bicubic, a = -0.75, half-pixel centres, at 0.5x: each output
/// sample lies halfway between two source samples, so the taps sit at distances 1.5, 0.5, 0.5
/// and 1.5 and the weights never change.
const HALF_BICUBIC: [f32; 4] = [-0.09375, 0.59375, 0.59375, -0.09375];

/// `planes` planes of `w`×`h` (both even) halved with [`HALF_BICUBIC`], source indices clamped
/// at the edges as ncnn's `Interp` does; rows first, then columns.
fn halve_bicubic(data: &[f32], planes: usize, w: usize, h: usize) -> Vec<f32> {
    let (ow, oh) = (w / 2, h / 2);
    let mut rows = vec![0f32; planes * oh * w];
    let mut out = vec![0f32; planes * oh * ow];
    let taps = |o: usize, n: usize| {
        let base = 2 * o as isize - 1;
        [0, 1, 2, 3].map(|t| (base + t).clamp(0, n as isize - 1) as usize)
    };
    for p in 0..planes {
        let src = &data[p * w * h..(p + 1) * w * h];
        let mid = &mut rows[p * oh * w..(p + 1) * oh * w];
        for oy in 0..oh {
            let ys = taps(oy, h);
            let dst = &mut mid[oy * w..(oy + 1) * w];
            for (t, &y) in ys.iter().enumerate() {
                let weight = HALF_BICUBIC[t];
                for (d, s) in dst.iter_mut().zip(&src[y * w..(y + 1) * w]) {
                    *d += weight * s;
                }
            }
        }
        let dst = &mut out[p * oh * ow..(p + 1) * oh * ow];
        for oy in 0..oh {
            let row = &mid[oy * w..(oy + 1) * w];
            for ox in 0..ow {
                let xs = taps(ox, w);
                dst[oy * ow + ox] = xs
                    .iter()
                    .zip(HALF_BICUBIC)
                    .map(|(&x, weight)| weight * row[x])
                    .sum();
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rect {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

impl Rect {
    /// Grown by `by` on each side, within a `width`×`height` image.
    fn grown(self, by: u32, width: u32, height: u32) -> Rect {
        let x = self.x.saturating_sub(by);
        let y = self.y.saturating_sub(by);
        Rect {
            x,
            y,
            w: (self.x + self.w + by).min(width) - x,
            h: (self.y + self.h + by).min(height) - y,
        }
    }
}

/// The `rect` of `image` as `1×3×h×w` float32 in [0, 1].
fn planar(image: &RgbImage, rect: Rect) -> Vec<f32> {
    let plane = (rect.w * rect.h) as usize;
    let mut data = vec![0f32; 3 * plane];
    let (r, rest) = data.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    let mut i = 0;
    for y in rect.y..rect.y + rect.h {
        for x in rect.x..rect.x + rect.w {
            let p = image.get_pixel(x, y).0;
            r[i] = f32::from(p[0]) / 255.0;
            g[i] = f32::from(p[1]) / 255.0;
            b[i] = f32::from(p[2]) / 255.0;
            i += 1;
        }
    }
    data
}

/// Runs the network on one tile; returns its `3×(h·s)×(w·s)` output.
fn infer(
    slot: &mut Slot,
    spec: &ModelSpec,
    input: &[f32],
    rect: Rect,
    scale: u32,
) -> Result<Vec<f32>> {
    let failed = |e: ort::Error| Error::internal(format!("model {} failed: {e}", spec.name));
    let shape = [1usize, 3, rect.h as usize, rect.w as usize];
    let tensor = TensorRef::from_array_view((shape, input)).map_err(failed)?;
    let outputs = slot.session.run(ort::inputs![tensor]).map_err(failed)?;
    let (shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(failed)?;
    let expected = [1, 3, i64::from(rect.h * scale), i64::from(rect.w * scale)];
    let doubled = [1, 3, 2 * expected[2], 2 * expected[3]];
    if **shape == expected {
        Ok(data.to_vec())
    } else if **shape == doubled {
        // The graph's final 0.5x bicubic was left out when it was built (see `build`).
        let (w, h) = (doubled[3] as usize, doubled[2] as usize);
        Ok(halve_bicubic(data, 3, w, h))
    } else {
        Err(Error::internal(format!(
            "model {} returned a {shape:?} tensor for a {}x{} tile; expected {expected:?}",
            spec.name, rect.w, rect.h
        )))
    }
}

/// Copies the `core` part of a tile's output (computed for `context`) into `out`, rounding
/// the model's [0, 1] values to 8 bits.
fn paste(result: &[f32], context: Rect, core: Rect, scale: u32, out: &mut RgbImage) {
    let (cw, ch) = ((context.w * scale) as usize, (context.h * scale) as usize);
    let plane = cw * ch;
    let to_u8 = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    for oy in core.y * scale..(core.y + core.h) * scale {
        let ty = (oy - context.y * scale) as usize;
        for ox in core.x * scale..(core.x + core.w) * scale {
            let i = ty * cw + (ox - context.x * scale) as usize;
            out.put_pixel(
                ox,
                oy,
                image::Rgb([
                    to_u8(result[i]),
                    to_u8(result[plane + i]),
                    to_u8(result[2 * plane + i]),
                ]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_stops_at_the_image_border() {
        let core = Rect {
            x: 0,
            y: 100,
            w: 50,
            h: 50,
        };
        assert_eq!(
            core.grown(16, 60, 160),
            Rect {
                x: 0,
                y: 84,
                w: 60,
                h: 76
            }
        );
    }

    #[test]
    fn paste_takes_the_core_of_the_tile() {
        // A 2x2 context whose right column is the core, upscaled x2: output columns 2..4.
        let context = Rect {
            x: 0,
            y: 0,
            w: 2,
            h: 2,
        };
        let core = Rect {
            x: 1,
            y: 0,
            w: 1,
            h: 2,
        };
        let plane: Vec<f32> = (0..16).map(|i| i as f32 / 15.0).collect();
        let result: Vec<f32> = plane.iter().chain(&plane).chain(&plane).copied().collect();
        let mut out = RgbImage::new(4, 4);
        paste(&result, context, core, 2, &mut out);
        assert_eq!(
            out.get_pixel(2, 0).0[0],
            (2.0f32 / 15.0 * 255.0).round() as u8
        );
        assert_eq!(out.get_pixel(3, 3).0[1], 255);
        assert_eq!(
            out.get_pixel(0, 0).0[0],
            0,
            "outside the core stays untouched"
        );
    }

    #[test]
    fn halving_matches_the_direct_bicubic_formula() {
        // Out sample (ox, oy) reads source 2o-1..2o+2, clamped; check every sample of a
        // non-separable pattern against the 2-D sum.
        let (w, h) = (8usize, 6usize);
        let src: Vec<f32> = (0..w * h)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.1 + (i / w) as f32 * 0.01)
            .collect();
        let out = halve_bicubic(&src, 1, w, h);
        let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
        for oy in 0..h / 2 {
            for ox in 0..w / 2 {
                let mut expected = 0.0;
                for (ty, wy) in HALF_BICUBIC.iter().enumerate() {
                    for (tx, wx) in HALF_BICUBIC.iter().enumerate() {
                        let y = clamp(2 * oy as isize - 1 + ty as isize, h);
                        let x = clamp(2 * ox as isize - 1 + tx as isize, w);
                        expected += wy * wx * src[y * w + x];
                    }
                }
                let got = out[oy * (w / 2) + ox];
                assert!(
                    (got - expected).abs() < 1e-5,
                    "({ox},{oy}): {got} vs {expected}"
                );
            }
        }
        let flat = halve_bicubic(&[0.25; 16], 1, 4, 4);
        assert!(flat.iter().all(|v| (v - 0.25).abs() < 1e-6), "{flat:?}");
    }

    #[test]
    fn a_missing_model_is_a_failed_precondition_naming_the_fetch() {
        let mut settings = crate::config::Settings::embedded().models;
        settings.dir = PathBuf::from("/nonexistent/models");
        let upscaler = Upscaler::new(Runtime::new(&settings));
        let err = upscaler.network(2).unwrap_err();
        assert_eq!(err.code, ErrorCode::FailedPrecondition);
        assert!(
            err.message
                .contains("imgforge models fetch realesr-animevideov3-x2"),
            "{}",
            err.message
        );
        assert!(!upscaler.is_ready());
    }
}
