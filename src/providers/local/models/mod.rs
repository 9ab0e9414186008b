//! The model registry and the ONNX Runtime that runs the local engine's models.

pub mod install;
pub mod ncnn;
pub mod ncnn_onnx;
mod onnx_proto;
pub mod registry;
pub mod runtime;

pub use registry::{Family, ModelSpec};
pub use runtime::Runtime;
