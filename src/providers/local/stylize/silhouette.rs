//! The subject's silhouette: the segmentation mask cleaned into one smooth outline, held as a
//! signed distance field so every preset can cut out, outline and feather from it.

use image::GrayImage;

use super::components::{Connectivity, NONE, label, label_mask};
use super::distance::distance_to;
use super::plane::Plane;

/// A kept component must be at least this share of the largest one (a second person stays,
/// a scrap of background the segmenter half-believed in goes).
const MIN_COMPONENT_SHARE: f32 = 0.15;
/// Holes smaller than this share of the subject are segmentation noise and get filled.
const MAX_HOLE_SHARE: f32 = 0.003;
/// The subject size (longest side of its bounding box, in pixels) the style parameters are
/// tuned for; everything measured in pixels scales with it.
const REFERENCE_SUBJECT: f32 = 450.0;
/// Parts of the mask thinner than twice this (at the reference size) are cut off.
const OPENING: f32 = 3.0;

#[derive(Debug, Clone)]
pub struct Silhouette {
    /// Signed distance to the outline in pixels, negative inside the subject.
    pub distance: Plane,
    /// The subject's size relative to [`REFERENCE_SUBJECT`].
    pub scale: f32,
}

impl Silhouette {
    /// Cleans `alpha` (0 = background) into a silhouette; `None` if nothing is left.
    pub fn from_alpha(alpha: &GrayImage) -> Option<Self> {
        let (width, height) = (alpha.width() as usize, alpha.height() as usize);
        let raw = alpha.as_raw();
        let subject: Vec<bool> = raw.iter().map(|&v| v >= 128).collect();
        let subject = keep_main_components(&subject, width, height)?;
        let scale = subject_scale(&subject, width, height);
        // Opening cuts off slivers the segmenter let through (a strip of a flag, a shadow);
        // what it leaves is the subject's body.
        let opened = open(&subject, width, height, OPENING * scale);
        let subject = keep_main_components(&opened, width, height).unwrap_or(subject);
        let area = subject.iter().filter(|&&v| v).count();
        let subject = fill_small_holes(&subject, width, height, area);
        let coverage = Plane {
            width,
            height,
            data: subject.iter().map(|&v| if v { 1.0 } else { 0.0 }).collect(),
        };
        // Blurring the hard mask and re-thresholding rounds off stair-steps and slivers.
        let smooth = coverage.gaussian_blur(1.0 + 1.2 * scale);
        let distance = signed_distance(&smooth);
        Some(Silhouette { distance, scale })
    }

    #[cfg(test)]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.distance.at(x, y)
    }

    /// Pixel lengths that scale with the subject.
    pub fn px(&self, reference: f32) -> f32 {
        reference * self.scale
    }
}

/// Anti-aliased coverage of a pixel whose centre is `distance` outside an edge.
pub fn coverage_at(distance: f32) -> f32 {
    (0.5 - distance).clamp(0.0, 1.0)
}

fn keep_main_components(subject: &[bool], width: usize, height: usize) -> Option<Vec<bool>> {
    let components = label_mask(subject, width, height, Connectivity::Eight);
    let largest = components.largest()?;
    let min_area = components.areas[largest as usize] as f32 * MIN_COMPONENT_SHARE;
    Some(
        components
            .ids
            .iter()
            .map(|&id| id != NONE && components.areas[id as usize] as f32 >= min_area)
            .collect(),
    )
}

/// Morphological opening by a disc of `radius` pixels, exact through distance transforms.
fn open(subject: &[bool], width: usize, height: usize, radius: f32) -> Vec<bool> {
    let background: Vec<bool> = subject.iter().map(|&v| !v).collect();
    let eroded: Vec<bool> = distance_to(&background, width, height)
        .iter()
        .map(|&d| d > radius)
        .collect();
    distance_to(&eroded, width, height)
        .iter()
        .map(|&d| d <= radius)
        .collect()
}

fn fill_small_holes(subject: &[bool], width: usize, height: usize, area: usize) -> Vec<bool> {
    let holes = label(width, height, Connectivity::Four, |i| {
        (!subject[i]).then_some(())
    });
    let mut touches_border = vec![false; holes.areas.len()];
    for (i, &id) in holes.ids.iter().enumerate() {
        let (x, y) = (i % width, i / width);
        if id != NONE && (x == 0 || y == 0 || x + 1 == width || y + 1 == height) {
            touches_border[id as usize] = true;
        }
    }
    let max_hole = (area as f32 * MAX_HOLE_SHARE).max(4.0);
    holes
        .ids
        .iter()
        .zip(subject)
        .map(|(&id, &inside)| {
            inside
                || (id != NONE
                    && !touches_border[id as usize]
                    && (holes.areas[id as usize] as f32) < max_hole)
        })
        .collect()
}

fn subject_scale(subject: &[bool], width: usize, height: usize) -> f32 {
    let (mut x0, mut y0, mut x1, mut y1) = (width, height, 0, 0);
    for (i, _) in subject.iter().enumerate().filter(|(_, v)| **v) {
        let (x, y) = (i % width, i / width);
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let side = (x1.saturating_sub(x0) + 1).max(y1.saturating_sub(y0) + 1) as f32;
    (side / REFERENCE_SUBJECT).clamp(0.25, 4.0)
}

/// Signed distance to the 0.5 level of a smooth coverage plane: exact Euclidean distance away
/// from the edge, refined to sub-pixel precision from the coverage gradient near it.
fn signed_distance(smooth: &Plane) -> Plane {
    let (width, height) = (smooth.width, smooth.height);
    let inside: Vec<bool> = smooth.data.iter().map(|&v| v >= 0.5).collect();
    let outside: Vec<bool> = inside.iter().map(|&v| !v).collect();
    let to_inside = distance_to(&inside, width, height);
    let to_outside = distance_to(&outside, width, height);
    Plane::from_fn(width, height, |x, y| {
        let i = y * width + x;
        let coarse = if inside[i] {
            0.5 - to_outside[i]
        } else {
            to_inside[i] - 0.5
        };
        if coarse.abs() > 2.0 {
            return coarse;
        }
        let at = |dx: isize, dy: isize| {
            let nx = (x as isize + dx).clamp(0, width as isize - 1) as usize;
            let ny = (y as isize + dy).clamp(0, height as isize - 1) as usize;
            smooth.at(nx, ny)
        };
        let gx = 0.5 * (at(1, 0) - at(-1, 0));
        let gy = 0.5 * (at(0, 1) - at(0, -1));
        let gradient = gx.hypot(gy);
        if gradient < 1e-3 {
            return coarse;
        }
        let fine = (0.5 - smooth.data[i]) / gradient;
        if (fine - coarse).abs() < 1.5 {
            fine
        } else {
            coarse
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disc_mask(size: u32, cx: f32, cy: f32, radius: f32) -> GrayImage {
        GrayImage::from_fn(size, size, |x, y| {
            let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
            image::Luma([if d < radius { 255 } else { 0 }])
        })
    }

    #[test]
    fn distance_is_signed_and_close_to_the_true_edge() {
        let silhouette = Silhouette::from_alpha(&disc_mask(120, 60.0, 60.0, 40.0)).unwrap();
        assert!(silhouette.at(60, 60) < -30.0);
        assert!(silhouette.at(2, 2) > 30.0);
        let edge = silhouette.at(60 + 40, 60);
        assert!(edge.abs() < 1.5, "edge distance {edge}");
    }

    #[test]
    fn drops_small_scraps_and_fills_pinholes() {
        let mut mask = disc_mask(200, 100.0, 100.0, 60.0);
        mask.put_pixel(5, 5, image::Luma([255]));
        mask.put_pixel(100, 100, image::Luma([0]));
        let silhouette = Silhouette::from_alpha(&mask).unwrap();
        assert!(silhouette.at(5, 5) > 0.0);
        assert!(silhouette.at(100, 100) < -20.0);
    }

    #[test]
    fn empty_mask_has_no_silhouette() {
        assert!(Silhouette::from_alpha(&GrayImage::new(16, 16)).is_none());
    }
}
