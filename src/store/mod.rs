//! Where bytes live: blobs (results, uploads, provider inputs) and signed links to them.

pub mod blobs;
mod s3;
pub mod signing;
pub mod sweeper;

pub use blobs::{BlobStore, SignedUrl};
