//! Where bytes live: blobs (results, uploads) and their signed links.

pub mod blobs;
pub mod signing;

pub use blobs::{BlobStore, SignedUrl};
