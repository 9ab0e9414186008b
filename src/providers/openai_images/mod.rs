//! An OpenAI-compatible images API as a generation backend: `/images/generations`, or
//! `/images/edits` for a reference image; streamed partial images as previews; content
//! refusals (`moderation_blocked`) kept apart and never retried.
//!
//! [`OpenAiImagesProvider`] puts [`OpenAiImagesClient::generate`] behind the provider
//! contract.

pub mod client;

mod decode;
mod error;
mod provider;
mod sse;
mod wire;

pub use crate::config::openai_images::OpenAiImagesSettings;
pub use client::OpenAiImagesClient;
pub use provider::OpenAiImagesProvider;
