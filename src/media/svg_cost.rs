//! What rasterising an SVG will cost, estimated from the parsed tree before any pixel is drawn.
//!
//! A few hundred bytes of SVG can ask for minutes of CPU: a Gaussian blur over a 7000×7000
//! canvas, a morphology filter with a large radius, or groups nested with opacity, each of
//! which resvg renders on a layer of its own. The estimate counts pixel operations: every
//! drawn node costs its device-space area, every isolated layer (opacity, mask, clip, filter)
//! twice its area (allocate and composite), and every filter primitive its area times a weight
//! for how much work it does per pixel. A document whose estimate exceeds
//! `limits.svg_max_render_cost` is refused before rendering.

use resvg::usvg::{self, filter};

/// Per-pixel weights of filter primitives, relative to one pass over the region.
mod weight {
    /// resvg blurs with three box passes per axis (or an IIR filter for small deviations),
    /// each reading and writing four channels. Calibrated on the blur bomb of issue 9: a blur
    /// over a 7000² canvas (70 Mpx filter region) took 26 s, about 60× a plain fill per pixel.
    pub const BLUR: u64 = 64;
    /// Perlin noise per octave.
    pub const TURBULENCE_PER_OCTAVE: u64 = 16;
    /// Normals and a light model per pixel.
    pub const LIGHTING: u64 = 16;
    /// Everything else (offsets, blends, colour matrices) is a pass or two.
    pub const SIMPLE: u64 = 2;
}

/// The estimated pixel operations of rendering `tree` on a `width` × `height` canvas.
pub fn render_cost(tree: &usvg::Tree, width: u32, height: u32) -> u64 {
    let canvas = Canvas::new(width, height);
    group_cost(tree.root(), &canvas)
}

/// resvg clips every layer to five times the canvas in each direction; no area counts more.
struct Canvas {
    max_area: u64,
}

impl Canvas {
    fn new(width: u32, height: u32) -> Self {
        Canvas {
            max_area: u64::from(width)
                .saturating_mul(u64::from(height))
                .saturating_mul(25),
        }
    }

    fn area(&self, rect: Option<usvg::NonZeroRect>) -> u64 {
        let Some(rect) = rect else {
            return 0;
        };
        // Float-to-int `as` saturates, so absurd sizes become u64::MAX before the clamp.
        let area = (f64::from(rect.width()).ceil() * f64::from(rect.height()).ceil()) as u64;
        area.min(self.max_area)
    }
}

fn group_cost(group: &usvg::Group, canvas: &Canvas) -> u64 {
    let layer = canvas.area(Some(group.abs_layer_bounding_box()));
    let mut cost: u64 = 0;
    if group.should_isolate() {
        cost = cost.saturating_add(layer.saturating_mul(2));
    }
    let scale = transform_scale(group.abs_transform());
    for filter in group.filters() {
        for primitive in filter.primitives() {
            let per_pixel = primitive_weight(primitive.kind(), scale);
            cost = cost.saturating_add(layer.saturating_mul(per_pixel));
            if let filter::Kind::Image(image) = primitive.kind() {
                cost = cost.saturating_add(group_cost(image.root(), canvas));
            }
        }
    }
    if let Some(clip) = group.clip_path() {
        cost = cost.saturating_add(group_cost(clip.root(), canvas));
    }
    if let Some(mask) = group.mask() {
        cost = cost.saturating_add(group_cost(mask.root(), canvas));
    }
    for child in group.children() {
        cost = cost.saturating_add(node_cost(child, canvas));
    }
    cost
}

fn node_cost(node: &usvg::Node, canvas: &Canvas) -> u64 {
    match node {
        usvg::Node::Group(group) => group_cost(group, canvas),
        usvg::Node::Path(_) => canvas.area(node.abs_layer_bounding_box()),
        usvg::Node::Image(image) => {
            let drawn = canvas.area(node.abs_layer_bounding_box());
            match image.kind() {
                usvg::ImageKind::SVG(tree) => drawn.saturating_add(group_cost(tree.root(), canvas)),
                usvg::ImageKind::JPEG(_)
                | usvg::ImageKind::PNG(_)
                | usvg::ImageKind::GIF(_)
                | usvg::ImageKind::WEBP(_) => drawn,
            }
        }
        usvg::Node::Text(text) => group_cost(text.flattened(), canvas),
    }
}

/// How much one primitive costs per pixel of its region. Morphology and convolution visit a
/// window around every pixel, so their windows count; `scale` turns user units into pixels.
fn primitive_weight(kind: &filter::Kind, scale: f32) -> u64 {
    let window = |rx: f32, ry: f32| {
        let side = |r: f32| (2.0 * f64::from(r * scale).ceil() + 1.0).max(1.0);
        (side(rx) * side(ry)) as u64
    };
    match kind {
        filter::Kind::GaussianBlur(_) | filter::Kind::DropShadow(_) => weight::BLUR,
        filter::Kind::Morphology(m) => window(m.radius_x().get(), m.radius_y().get()),
        filter::Kind::ConvolveMatrix(c) => {
            u64::from(c.matrix().rows()).saturating_mul(u64::from(c.matrix().columns()))
        }
        filter::Kind::Turbulence(t) => {
            weight::TURBULENCE_PER_OCTAVE.saturating_mul(u64::from(t.num_octaves().max(1)))
        }
        filter::Kind::DiffuseLighting(_) | filter::Kind::SpecularLighting(_) => weight::LIGHTING,
        filter::Kind::Blend(_)
        | filter::Kind::ColorMatrix(_)
        | filter::Kind::ComponentTransfer(_)
        | filter::Kind::Composite(_)
        | filter::Kind::DisplacementMap(_)
        | filter::Kind::Flood(_)
        | filter::Kind::Image(_)
        | filter::Kind::Merge(_)
        | filter::Kind::Offset(_)
        | filter::Kind::Tile(_) => weight::SIMPLE,
    }
}

/// The larger of a transform's two axis scales.
fn transform_scale(ts: usvg::Transform) -> f32 {
    let (sx, sy) = ts.get_scale();
    sx.max(sy).max(f32::MIN_POSITIVE)
}
