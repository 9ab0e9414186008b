//! FaceChain learns from at most 10 photos; the seed uploads 8–20. The best are kept by local
//! heuristics: big enough to hold a face, then sharpest first (variance of the Laplacian on a
//! downscaled grey copy — blur and motion shake flatten it), larger before smaller on ties.

use std::io::Cursor;

use image::{ImageReader, Limits};

use crate::imaging::sharpness::laplacian_variance;

/// Why a photo was left out, or how it scored.
#[derive(Debug, Clone, PartialEq)]
pub enum PhotoVerdict {
    Kept {
        sharpness: f64,
    },
    TooSmall {
        width: u32,
        height: u32,
    },
    Undecodable(String),
    /// Usable, but better ones filled the places.
    Surplus {
        sharpness: f64,
    },
}

/// Side of the grey copy sharpness is measured on, so scores compare across resolutions.
const MEASURE_SIDE: u32 = 512;
/// Decoding a candidate may not allocate more than this.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

/// Scores every photo and returns, for each, its verdict; at most `keep` are `Kept`, in the
/// order given. CPU work: call from a blocking thread.
pub fn select(photos: &[&[u8]], keep: usize, min_side: u32) -> Vec<PhotoVerdict> {
    let mut verdicts: Vec<PhotoVerdict> =
        photos.iter().map(|bytes| score(bytes, min_side)).collect();
    let mut usable: Vec<(usize, f64)> = verdicts
        .iter()
        .enumerate()
        .filter_map(|(index, verdict)| match verdict {
            PhotoVerdict::Kept { sharpness } => Some((index, *sharpness)),
            PhotoVerdict::TooSmall { .. }
            | PhotoVerdict::Undecodable(_)
            | PhotoVerdict::Surplus { .. } => None,
        })
        .collect();
    usable.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for &(index, sharpness) in usable.iter().skip(keep) {
        verdicts[index] = PhotoVerdict::Surplus { sharpness };
    }
    verdicts
}

fn score(bytes: &[u8], min_side: u32) -> PhotoVerdict {
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let reader = match ImageReader::new(Cursor::new(bytes)).with_guessed_format() {
        Ok(mut reader) => {
            reader.limits(limits);
            reader
        }
        Err(e) => return PhotoVerdict::Undecodable(e.to_string()),
    };
    let image = match reader.decode() {
        Ok(image) => image,
        Err(e) => return PhotoVerdict::Undecodable(e.to_string()),
    };
    let (width, height) = (image.width(), image.height());
    if width.min(height) < min_side {
        return PhotoVerdict::TooSmall { width, height };
    }
    let grey = image.thumbnail(MEASURE_SIDE, MEASURE_SIDE).to_luma8();
    PhotoVerdict::Kept {
        sharpness: laplacian_variance(&grey),
    }
}

#[cfg(test)]
mod tests {
    use image::{GrayImage, ImageFormat, Luma};

    use super::*;

    fn png(image: &GrayImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    /// A checkerboard of `cell`-pixel squares: small cells are sharp detail, a flat field none.
    fn board(side: u32, cell: u32) -> Vec<u8> {
        png(&GrayImage::from_fn(side, side, |x, y| {
            Luma([if (x / cell + y / cell) % 2 == 0 {
                30
            } else {
                220
            }])
        }))
    }

    #[test]
    fn keeps_the_sharpest_and_names_why_others_were_left_out() {
        let flat = png(&GrayImage::from_pixel(600, 600, Luma([128])));
        let sharp = board(600, 3);
        let medium = board(600, 40);
        let small = board(100, 3);
        let junk = b"not an image".to_vec();
        let photos: Vec<&[u8]> = vec![&flat, &sharp, &small, &medium, &junk];
        let verdicts = select(&photos, 2, 256);
        assert!(
            matches!(verdicts[0], PhotoVerdict::Surplus { .. }),
            "{verdicts:?}"
        );
        assert!(
            matches!(verdicts[1], PhotoVerdict::Kept { .. }),
            "{verdicts:?}"
        );
        assert_eq!(
            verdicts[2],
            PhotoVerdict::TooSmall {
                width: 100,
                height: 100
            }
        );
        assert!(
            matches!(verdicts[3], PhotoVerdict::Kept { .. }),
            "{verdicts:?}"
        );
        assert!(
            matches!(verdicts[4], PhotoVerdict::Undecodable(_)),
            "{verdicts:?}"
        );
        let score = |v: &PhotoVerdict| match v {
            PhotoVerdict::Kept { sharpness } | PhotoVerdict::Surplus { sharpness } => *sharpness,
            PhotoVerdict::TooSmall { .. } | PhotoVerdict::Undecodable(_) => f64::NAN,
        };
        assert!(score(&verdicts[1]) > score(&verdicts[3]));
        assert!(score(&verdicts[3]) > score(&verdicts[0]));
    }
}
