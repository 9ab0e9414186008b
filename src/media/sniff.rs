//! Format detection from the bytes themselves, never from names or headers.

use crate::domain::ImageFormat;
use crate::error::Result;

/// The real format of `bytes`, or an InvalidArgument error naming what was found.
pub fn sniff(bytes: &[u8]) -> Result<ImageFormat> {
    let _ = bytes;
    todo!("helper A")
}
