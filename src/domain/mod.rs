//! Proto-free domain types: images, operations and their parameters.

pub mod color;
pub mod generation;
pub mod image;
pub mod operation;
pub mod params;
pub mod progress;
pub mod task;

pub use generation::{Generated, GenerationJob};
pub use image::{EncodedImage, ImageFormat, ImageLimits, ImageSource, SourceImage};
pub use operation::Operation;
pub use progress::{Progress, ProgressSink};
pub use task::{RemoteTask, TaskReport, TaskStatus};
