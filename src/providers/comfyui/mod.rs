//! ComfyUI (self-hosted) as a generation backend: API-format workflow templates filled per
//! job, `POST /prompt`, progress from the `/ws` events (one weighted, monotonic percent,
//! previews), results from `/view`, cancel on drop; polling when there is no WebSocket.
//!
//! [`ComfyUiProvider`] puts [`ComfyUiClient::generate`] behind the provider contract.

mod api;
mod cancel;
pub mod client;
mod resumable;

mod error;
mod follow;
mod frames;
mod progress;
mod provider;
mod socket;
pub mod template;
mod wire;

pub use crate::config::comfyui::ComfyUiSettings;
pub use client::ComfyUiClient;
pub use provider::ComfyUiProvider;
