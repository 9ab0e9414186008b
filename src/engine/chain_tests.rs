//! The fallback rules of [`Engine::run`] on fake providers: the chain's order, falling back on
//! a provider that is unavailable or fails, no fallback on the caller's own bad input, and the
//! last provider's error when every one fails.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::Engine;
use crate::config::{BlobStoreSettings, Settings};
use crate::domain::params::{OutputSpec, ResizeParams};
use crate::domain::{EncodedImage, ImageFormat, ImageSource, Operation};
use crate::error::{Error, ErrorCode, Result};
use crate::providers::{
    Call, Capabilities, OpRequest, OperationSupport, Output, Provider, ProviderRegistry,
};

/// The names of the providers called, in call order, shared by every fake of one engine.
type Calls = Arc<Mutex<Vec<&'static str>>>;

/// A provider that resizes by answering a 1×1 PNG, fails with `fails_with`, or does not
/// resize at all.
struct Fake {
    name: &'static str,
    fails_with: Option<ErrorCode>,
    capabilities: Capabilities,
    calls: Calls,
}

#[async_trait]
impl Provider for Fake {
    fn name(&self) -> &'static str {
        self.name
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn run(&self, request: OpRequest, _call: &Call) -> Result<Output> {
        assert_eq!(
            request.operation(),
            Operation::Resize,
            "the engine asks only resize"
        );
        self.calls.lock().unwrap().push(self.name);
        match self.fails_with {
            Some(code) => Err(Error::new(code, format!("{} says no", self.name))),
            None => Ok(Output::image(EncodedImage {
                bytes: png(1, 1).into(),
                format: ImageFormat::Png,
                width: 1,
                height: 1,
            })),
        }
    }
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::DynamicImage::new_rgb8(width, height)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A provider of the chain: its name and what it does when called.
enum Behaviour {
    Succeeds,
    Fails(ErrorCode),
    DoesNotResize,
}
use Behaviour::*;

/// An engine whose resize chain is `providers`, in order, and the log of their calls.
fn engine_with(providers: &[(&'static str, Behaviour)]) -> (Engine, Calls, tempfile::TempDir) {
    let blobs = tempfile::tempdir().unwrap();
    let mut settings = Settings::embedded();
    settings.blob_store = BlobStoreSettings::local(blobs.path());
    let engine = Arc::into_inner(Engine::from_settings(&settings).unwrap()).unwrap();
    let calls = Calls::default();
    let fakes = providers
        .iter()
        .map(|(name, behaviour)| {
            Arc::new(Fake {
                name,
                fails_with: match behaviour {
                    Fails(code) => Some(*code),
                    Succeeds | DoesNotResize => None,
                },
                capabilities: if matches!(behaviour, DoesNotResize) {
                    Capabilities::default()
                } else {
                    Capabilities::new([OperationSupport::new(Operation::Resize, &[])])
                },
                calls: calls.clone(),
            }) as Arc<dyn Provider>
        })
        .collect();
    let names: Vec<&str> = providers.iter().map(|(name, _)| *name).collect();
    let engine = Engine {
        providers: ProviderRegistry::of(fakes, &names),
        ..engine
    };
    (engine, calls, blobs)
}

/// Resizes a small PNG through the engine's public entry point.
async fn resize(engine: &Engine) -> Result<&'static str> {
    let params = ResizeParams {
        min_dim: 1,
        max_dim: 64,
        output: OutputSpec::default(),
    };
    let source = ImageSource::Bytes(png(8, 8).into());
    Ok(engine.resize(source, "image", params, None).await?.provider)
}

fn called(calls: &Calls) -> Vec<&'static str> {
    calls.lock().unwrap().clone()
}

#[tokio::test]
async fn the_first_provider_of_the_chain_runs_alone_when_it_succeeds() {
    let (engine, calls, _blobs) = engine_with(&[("a", Succeeds), ("b", Succeeds)]);
    assert_eq!(resize(&engine).await.unwrap(), "a");
    assert_eq!(called(&calls), ["a"]);

    let (engine, calls, _blobs) = engine_with(&[("b", Succeeds), ("a", Succeeds)]);
    assert_eq!(
        resize(&engine).await.unwrap(),
        "b",
        "the chain's order, not the names'"
    );
    assert_eq!(called(&calls), ["b"]);
}

#[tokio::test]
async fn an_unavailable_provider_falls_back_to_the_next() {
    let (engine, calls, _blobs) =
        engine_with(&[("a", Fails(ErrorCode::Unavailable)), ("b", Succeeds)]);
    assert_eq!(resize(&engine).await.unwrap(), "b");
    assert_eq!(called(&calls), ["a", "b"]);
}

#[tokio::test]
async fn a_failing_provider_falls_back_to_the_next() {
    for code in [
        ErrorCode::Internal,
        ErrorCode::FailedPrecondition,
        ErrorCode::DeadlineExceeded,
        ErrorCode::ResourceExhausted,
        ErrorCode::Unauthenticated,
    ] {
        let (engine, calls, _blobs) =
            engine_with(&[("a", Fails(code)), ("b", Fails(code)), ("c", Succeeds)]);
        assert_eq!(resize(&engine).await.unwrap(), "c", "{code:?}");
        assert_eq!(called(&calls), ["a", "b", "c"], "{code:?}");
    }
}

#[tokio::test]
async fn the_callers_bad_input_is_returned_without_trying_another_provider() {
    for code in [
        ErrorCode::InvalidArgument,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Cancelled,
    ] {
        let (engine, calls, _blobs) = engine_with(&[("a", Fails(code)), ("b", Succeeds)]);
        let err = resize(&engine).await.unwrap_err();
        assert_eq!(err.code, code);
        assert_eq!(err.message, "a says no");
        assert_eq!(called(&calls), ["a"], "{code:?}: no fallback");
    }
}

#[tokio::test]
async fn when_every_provider_fails_the_last_error_is_returned_naming_its_provider() {
    let (engine, calls, _blobs) = engine_with(&[
        ("a", Fails(ErrorCode::Unavailable)),
        ("b", Fails(ErrorCode::Internal)),
    ]);
    let err = resize(&engine).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Internal);
    assert_eq!(err.message, "b says no");
    assert_eq!(err.provider.as_deref(), Some("b"));
    assert_eq!(called(&calls), ["a", "b"]);
}

#[tokio::test]
async fn providers_that_do_not_implement_the_operation_are_passed_over() {
    let (engine, calls, _blobs) = engine_with(&[("a", DoesNotResize), ("b", Succeeds)]);
    assert_eq!(resize(&engine).await.unwrap(), "b");
    assert_eq!(called(&calls), ["b"]);

    let (engine, calls, _blobs) = engine_with(&[("a", DoesNotResize)]);
    let err = resize(&engine).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unimplemented);
    assert!(err.message.contains("tried: a"), "{}", err.message);
    assert!(called(&calls).is_empty());
}
