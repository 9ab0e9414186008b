//! Seed 000's photo preprocessing, shared by every character provider: fit inside
//! 1024×1024 (never enlarged), RGB, JPEG q90.

use crate::domain::params::CreateCharacterParams;
use crate::domain::{ImageFormat, ImageLimits, SourceImage};
use crate::error::{Error, Result};
use crate::imaging::resize::resize_to;
use crate::media;

/// Checks the seed's rules (JPEG or PNG, at most 5 MB) and prepares the photo.
pub fn character_photo(source: &SourceImage, limits: &ImageLimits) -> Result<SourceImage> {
    if !matches!(source.format, ImageFormat::Jpeg | ImageFormat::Png) {
        return Err(Error::invalid(
            "photo",
            format!(
                "只支持 JPG、PNG 格式的图片 (only JPG and PNG photos are accepted; got {})",
                source.format.name()
            ),
        ));
    }
    if source.bytes.len() > CreateCharacterParams::MAX_PHOTO_BYTES {
        return Err(Error::too_large(
            "photo",
            format!(
                "照片不能超过 5MB (the photo is {} bytes; the limit is {} bytes)",
                source.bytes.len(),
                CreateCharacterParams::MAX_PHOTO_BYTES
            ),
        ));
    }
    let (_, decoded) = media::decode(&source.bytes, limits)?;
    let limit = CreateCharacterParams::WORKING_SIZE;
    let (w, h) = (decoded.width(), decoded.height());
    let fitted = if w > limit || h > limit {
        let scale = f64::from(limit) / f64::from(w.max(h));
        let size = |v: u32| ((f64::from(v) * scale).round() as u32).clamp(1, limit);
        resize_to(&decoded, size(w), size(h))?
    } else {
        decoded
    };
    let rgb = image::DynamicImage::ImageRgb8(fitted.to_rgb8());
    Ok(SourceImage {
        bytes: media::encode(&rgb, ImageFormat::Jpeg, 90)?,
        format: ImageFormat::Jpeg,
        width: rgb.width(),
        height: rgb.height(),
    })
}
