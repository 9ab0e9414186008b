//! Pixel work shared by the engine and every adapter: resizing and resampling, mattes and
//! compositing, colour spaces, blurs and bounding boxes. It imports nothing but `domain`,
//! `error` and `media`, so anything may use it.

pub mod blur;
pub mod matte;
pub mod oklab;
pub mod resample;
pub mod resize;
pub mod sharpness;
