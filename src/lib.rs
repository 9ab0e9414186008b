//! imgforge: a self-hostable gRPC image-processing service with a REST bridge.

pub mod auth;
pub mod cli;
pub mod config;
pub mod cover;
pub mod domain;
pub mod engine;
pub mod error;
pub mod grpc;
pub mod http;
pub mod imaging;
pub mod media;
pub mod portrait;
pub mod process;
pub mod proto;
pub mod providers;
pub mod redact;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
#[cfg(test)]
pub(crate) mod test_support;
pub mod webhooks;
