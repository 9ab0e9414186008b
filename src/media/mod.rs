//! Input and output safety: fetching URLs, sniffing formats, decoding under limits, encoding.

pub mod address_policy;
pub mod decode;
pub mod encode;
pub mod fetch;
pub mod frames;
pub mod sniff;
pub mod svg;

pub use decode::{decode, probe};
pub use encode::encode;
pub use fetch::UrlFetcher;
pub use frames::decode_frames;
pub use sniff::sniff;
