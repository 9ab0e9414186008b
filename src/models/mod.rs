//! The model registry and the ONNX Runtime that runs the local engine's models.

pub mod cli;
