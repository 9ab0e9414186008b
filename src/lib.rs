//! imgforge: a self-hostable gRPC image-processing service with a REST bridge.

pub mod config;
pub mod domain;
pub mod error;
pub mod media;
