//! An OpenAI-compatible images API as a generation backend: `/images/generations`, or
//! `/images/edits` for a reference image; streamed partial images as previews; content
//! refusals (`moderation_blocked`) kept apart and never retried.
//!
//! Not yet a [`crate::providers::Provider`]: the engine wires
//! [`OpenAiImagesClient::generate`] into the provider contract.

pub mod client;

mod decode;
mod error;
mod sse;
mod wire;

pub use crate::config::openai_images::OpenAiImagesSettings;
pub use client::OpenAiImagesClient;
