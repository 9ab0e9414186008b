//! The one shape every provider has: a name, what it can do ([`Capabilities`]), whether it
//! can do it now, and a single entry point that takes any operation ([`OpRequest`]) and
//! returns the same kind of [`Output`].
//!
//! One entry point is what lets decorators (deadline, retry, circuit breaker, limits,
//! admission, tracing) be written once each as a [`super::layers::Layer`], and lets a new
//! operation be added by touching the request enum, the adapters that run it and the
//! transports — nothing in between.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::domain::params::{
    ChangeBackgroundParams, ChangeClothesParams, ConvertParams, CreateCharacterParams,
    ExpandParams, FixParams, RemoveBackgroundParams, RemoveWatermarkParams, ResizeParams,
    TextToImageParams,
};
use crate::domain::task::RemoteTask;
use crate::domain::{EncodedImage, Operation, ProgressSink, SourceImage};
use crate::error::{Error, Result};

/// An operation with its inputs, as a provider receives it. Cheap to clone (image bytes are
/// shared), so a retry can send the same request again.
#[derive(Debug, Clone)]
pub enum OpRequest {
    Resize {
        image: SourceImage,
        params: ResizeParams,
    },
    /// One PNG per page or frame (see [`ConvertParams`]).
    ConvertToPng {
        image: SourceImage,
        params: ConvertParams,
    },
    RemoveBackground {
        image: SourceImage,
        params: RemoveBackgroundParams,
    },
    ChangeBackground {
        base: SourceImage,
        background: SourceImage,
        params: ChangeBackgroundParams,
    },
    ChangeClothes {
        person: SourceImage,
        top: Option<SourceImage>,
        bottom: Option<SourceImage>,
        params: ChangeClothesParams,
    },
    Expand {
        image: SourceImage,
        params: ExpandParams,
    },
    Fix {
        image: SourceImage,
        params: FixParams,
    },
    RemoveWatermark {
        image: SourceImage,
        params: RemoveWatermarkParams,
    },
    /// Images from a prompt: the generation step of [`Operation::GenerateCover`].
    TextToImage {
        params: TextToImageParams,
        /// A picture to stay close to, for backends that take one (image-to-image).
        reference: Option<SourceImage>,
    },
    /// `photo` is already preprocessed (fitted inside 1024, RGB, JPEG q90; seed 000).
    CreateCharacter {
        photo: SourceImage,
        params: CreateCharacterParams,
    },
}

impl OpRequest {
    pub fn operation(&self) -> Operation {
        match self {
            OpRequest::Resize { .. } => Operation::Resize,
            OpRequest::ConvertToPng { .. } => Operation::ConvertToPng,
            OpRequest::RemoveBackground { .. } => Operation::RemoveBackground,
            OpRequest::ChangeBackground { .. } => Operation::ChangeBackground,
            OpRequest::ChangeClothes { .. } => Operation::ChangeClothes,
            OpRequest::Expand { .. } => Operation::Expand,
            OpRequest::Fix { .. } => Operation::Fix,
            OpRequest::RemoveWatermark { .. } => Operation::RemoveWatermark,
            OpRequest::TextToImage { .. } => Operation::GenerateCover,
            OpRequest::CreateCharacter { .. } => Operation::CreateCharacter,
        }
    }
}

/// What any operation returns: its images (one for most operations), remarks for the
/// caller, and the provider's own task when the work ran as one.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub images: Vec<EncodedImage>,
    pub notes: Vec<String>,
    pub task: Option<RemoteTask>,
}

impl Output {
    pub fn image(image: EncodedImage) -> Self {
        Output {
            images: vec![image],
            ..Output::default()
        }
    }

    pub fn with_notes(mut self, notes: Vec<String>) -> Self {
        self.notes.extend(notes);
        self
    }

    /// The one image of an operation that makes one, or an internal error naming `provider`.
    pub fn into_single(mut self, op: Operation, provider: &str) -> Result<(EncodedImage, Self)> {
        if self.images.is_empty() {
            return Err(
                Error::internal(format!("provider {provider} returned no image for {op}"))
                    .with_provider(provider),
            );
        }
        let image = self.images.swap_remove(0);
        self.images.clear();
        Ok((image, self))
    }
}

/// A local step the engine runs around a provider's call, because the provider's backend
/// needs it and the local engine can do it. Declared here so no adapter calls another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalStep {
    /// Cut the subject of the first input out before the call (background generation
    /// keeps what is opaque).
    CutOutInput,
    /// Cut the subject of the result out after the call (a repainted character comes back
    /// with a painted background).
    CutOutResult,
}

/// What a provider does for one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationSupport {
    pub operation: Operation,
    /// The request options the provider honours; others are accepted and ignored, and
    /// documentation lists them from here.
    pub options: &'static [&'static str],
    /// The input side range the backend takes, when it has one (inputs are fitted to it).
    pub input_sides: Option<(u32, u32)>,
    pub local_steps: Vec<LocalStep>,
}

impl OperationSupport {
    pub fn new(operation: Operation, options: &'static [&'static str]) -> Self {
        OperationSupport {
            operation,
            options,
            input_sides: None,
            local_steps: Vec::new(),
        }
    }

    pub fn sides(mut self, (min, max): (u32, u32)) -> Self {
        self.input_sides = Some((min, max));
        self
    }

    pub fn step(mut self, step: LocalStep) -> Self {
        self.local_steps.push(step);
        self
    }
}

/// Everything a provider can do; `supports` and health are derived from it, so the two
/// cannot drift apart from what [`Provider::run`] dispatches (a test checks that too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    operations: Vec<OperationSupport>,
}

impl Capabilities {
    pub fn new(operations: impl IntoIterator<Item = OperationSupport>) -> Self {
        Capabilities {
            operations: operations.into_iter().collect(),
        }
    }

    pub fn supports(&self, op: Operation) -> bool {
        self.get(op).is_some()
    }

    pub fn get(&self, op: Operation) -> Option<&OperationSupport> {
        self.operations.iter().find(|s| s.operation == op)
    }

    pub fn operations(&self) -> impl Iterator<Item = Operation> + '_ {
        self.operations.iter().map(|s| s.operation)
    }

    /// Whether the engine must run `step` around this provider's `op`.
    pub fn wants(&self, op: Operation, step: LocalStep) -> bool {
        self.get(op).is_some_and(|s| s.local_steps.contains(&step))
    }
}

/// What travels with one call besides the request: where progress goes, whose call it is
/// (limits keyed per caller), and the deadline set by an outer layer.
#[derive(Debug, Clone, Default)]
pub struct Call {
    pub progress: ProgressSink,
    /// The caller's API key id, when the call is authenticated.
    pub caller: Option<Arc<str>>,
    /// When the whole call must be over; inner layers (retry) plan within it.
    pub deadline: Option<Instant>,
}

impl Call {
    pub fn with_progress(progress: ProgressSink) -> Self {
        Call {
            progress,
            ..Call::default()
        }
    }
}

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The name configuration uses for this provider (`local`, `dashscope`, ...).
    fn name(&self) -> &'static str;

    fn capabilities(&self) -> &Capabilities;

    /// Why `op` cannot run right now (a model missing, a circuit open), in words an operator
    /// can act on; `None` when it can. gRPC health follows it.
    fn unready_reason(&self, op: Operation) -> Option<String> {
        (!self.capabilities().supports(op))
            .then(|| format!("provider {} does not implement {op}", self.name()))
    }

    /// Runs one operation. A request for an operation the capabilities do not list answers
    /// [`unsupported`].
    async fn run(&self, request: OpRequest, call: &Call) -> Result<Output>;
}

/// Questions answered from [`Provider::capabilities`] and [`Provider::unready_reason`], for
/// every provider alike.
pub trait ProviderExt {
    fn supports(&self, op: Operation) -> bool;
    fn is_ready(&self, op: Operation) -> bool;
}

impl<P: Provider + ?Sized> ProviderExt for P {
    fn supports(&self, op: Operation) -> bool {
        self.capabilities().supports(op)
    }

    fn is_ready(&self, op: Operation) -> bool {
        self.supports(op) && self.unready_reason(op).is_none()
    }
}

/// The answer to a request for an operation a provider does not implement.
pub fn unsupported(provider: &str, op: Operation) -> Error {
    Error::unimplemented(format!("provider {provider} does not implement {op}"))
        .with_provider(provider)
}
