//! Provider adapters: each turns operations into work on one backend.
//!
//! Every provider implements [`Provider`] ([`contract`]): one entry point taking an
//! [`OpRequest`], and [`Capabilities`] saying which requests it takes. Decorators are
//! [`layers`]; [`registry`] builds each provider with its stack.

pub mod aliyun_vision;
pub mod comfyui;
mod context;
pub mod contract;
pub mod dashscope;
pub mod facechain;
pub mod layers;
pub mod local;
pub mod openai_images;
pub mod registry;
pub mod remote;

pub use context::ProviderContext;
pub use contract::{
    Call, Capabilities, LocalStep, OpRequest, OperationSupport, Output, Provider, ProviderExt,
    unsupported,
};
pub use registry::ProviderRegistry;
