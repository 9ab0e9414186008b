//! Input and output safety: fetching URLs, sniffing formats, decoding under limits, encoding.

pub mod address_policy;
pub mod cancel;
pub mod decode;
pub mod encode;
pub mod fetch;
pub mod frames;
pub mod jpeg_scaled;
mod markup_depth;
pub mod sniff;
pub mod svg;
mod svg_cost;

pub use decode::{decode, probe};
pub use encode::{conform, encode};
pub use fetch::UrlFetcher;
pub use frames::decode_frames;
pub use sniff::sniff;
pub use svg::{rasterize, svg_size};

#[cfg(test)]
pub(crate) mod testdata {
    use std::path::PathBuf;

    /// A file from the shared real-image folder, or `None` (reason printed) when it is
    /// absent on a user's clone; in CI its absence fails the test (`crate::test_support`).
    #[track_caller]
    pub fn path(name: &str) -> Option<PathBuf> {
        crate::test_support::testdata(name)
    }

    /// The bytes of a shared test image, or `None` when it is not available.
    pub fn read(name: &str) -> Option<Vec<u8>> {
        let path = path(name)?;
        Some(std::fs::read(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display())))
    }
}
