//! What every remote adapter shares: getting input images to a place the provider can reach,
//! and bringing its results home before their links expire.

pub mod download;
pub mod publish;
mod retry_after;
mod transport;

pub use download::ResultDownloader;
pub use publish::{InputPublisher, PublishedInput};
pub use retry_after::retry_after;
pub use transport::transport_error;
