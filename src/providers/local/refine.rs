//! Mask refinement: guided filter, alpha matting, foreground colour estimation.
//!
//! A segmentation model gives a soft but coarse mask (U^2-Net predicts at 320×320). These
//! functions make its edge follow the image: [`guided_filter`] cheaply snaps the mask to the
//! image's colour edges, [`alpha_matting`] solves for fractional coverage in the band where the
//! mask is unsure, and [`estimate_foreground`] recovers the subject's own colour where it is
//! mixed with the background, so a cut-out has no halo of the old background.
//!
//! All of them work on `f32` planes in [0, 1] and take `u8` images in and out.

mod foreground;
mod guided;
mod matting;
mod planes;

pub use foreground::estimate_foreground;
pub use guided::{guided_filter, refine_edges};
pub use matting::{MattingOptions, alpha_matting};
