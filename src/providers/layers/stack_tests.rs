//! The resilience stack ([`super::resilient`]) on a scripted fake: retries, deadlines and
//! the circuit breaker together, as a remote provider meets them.
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::time::Instant;

use super::{CircuitLayer, DeadlineLayer, RetryLayer, Stack, TraceLayer};
use crate::config::ResilienceSettings;
use crate::domain::params::{OutputSpec, ResizeParams};
use crate::domain::{EncodedImage, ImageFormat, Operation, SourceImage};
use crate::error::{Error, ErrorCode, Result};
use crate::providers::layers::retry::RetryPolicy;
use crate::providers::{
    Call, Capabilities, OpRequest, OperationSupport, Output, Provider, ProviderExt,
};

/// What the fake does on one call.
enum Step {
    Answer(Result<()>),
    /// Answers after a while.
    Slow(Duration, Result<()>),
    /// Never answers; sets the flag when its future is dropped.
    Hang,
}

/// A provider whose `resize` plays a script, one step per call, and counts calls. It also
/// declares `fix`, to show that breakers are per operation.
struct Scripted {
    script: Mutex<VecDeque<Step>>,
    calls: AtomicU32,
    dropped: Arc<AtomicBool>,
    capabilities: Capabilities,
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Scripted {
    fn new(steps: impl IntoIterator<Item = Step>) -> Arc<Self> {
        Arc::new(Scripted {
            script: Mutex::new(steps.into_iter().collect()),
            calls: AtomicU32::new(0),
            dropped: Arc::new(AtomicBool::new(false)),
            capabilities: Capabilities::new([
                OperationSupport::new(Operation::Resize, &[]),
                OperationSupport::new(Operation::Fix, &[]),
            ]),
        })
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Provider for Scripted {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn run(&self, request: OpRequest, _call: &Call) -> Result<Output> {
        let OpRequest::Resize { image, .. } = request else {
            panic!("the fake only resizes");
        };
        self.calls.fetch_add(1, Ordering::SeqCst);
        let step = self.script.lock().unwrap().pop_front();
        let outcome = match step.expect("the script has a step for every call") {
            Step::Answer(outcome) => outcome,
            Step::Slow(delay, outcome) => {
                tokio::time::sleep(delay).await;
                outcome
            }
            Step::Hang => {
                let _guard = SetOnDrop(Arc::clone(&self.dropped));
                std::future::pending::<()>().await;
                unreachable!("pending never completes")
            }
        };
        outcome.map(|()| {
            Output::image(EncodedImage {
                bytes: image.bytes,
                format: image.format,
                width: image.width,
                height: image.height,
            })
        })
    }
}

fn settings() -> ResilienceSettings {
    ResilienceSettings {
        timeout_secs: 60,
        max_attempts: 3,
        backoff_initial_ms: 100,
        backoff_max_ms: 1_000,
        circuit_failures: 5,
        circuit_open_secs: 30,
        ..ResilienceSettings::default()
    }
}

/// `fake` behind the stack of [`super::resilient`], with the longest backoff instead of a
/// random one.
fn guard(fake: &Arc<Scripted>, settings: &ResilienceSettings) -> Arc<dyn Provider> {
    let inner: Arc<dyn Provider> = Arc::clone(fake) as Arc<dyn Provider>;
    let policy = RetryPolicy::new(settings).with_jitter(|cap| cap);
    Stack::new(inner)
        .layer(CircuitLayer::new(settings))
        .layer(RetryLayer::with_policy(policy))
        .layer(DeadlineLayer::new(settings.timeout()))
        .layer(TraceLayer)
        .build()
}

async fn resize(provider: &Arc<dyn Provider>) -> Result<EncodedImage> {
    resize_with(provider, &Call::default()).await
}

async fn resize_with(provider: &Arc<dyn Provider>, call: &Call) -> Result<EncodedImage> {
    let image = SourceImage {
        bytes: Bytes::from_static(b"image"),
        format: ImageFormat::Png,
        width: 4,
        height: 4,
    };
    let params = ResizeParams {
        min_dim: 1,
        max_dim: 16,
        output: OutputSpec::default(),
    };
    let output = provider
        .run(OpRequest::Resize { image, params }, call)
        .await?;
    Ok(output.into_single(Operation::Resize, "fake")?.0)
}

fn unavailable() -> Result<()> {
    Err(Error::new(ErrorCode::Unavailable, "backend is down"))
}

#[tokio::test(start_paused = true)]
async fn retries_a_retryable_error_then_succeeds() {
    let fake = Scripted::new([
        Step::Answer(unavailable()),
        Step::Answer(unavailable()),
        Step::Answer(Ok(())),
    ]);
    let provider = guard(&fake, &settings());
    let start = Instant::now();
    let image = resize(&provider).await.expect("third attempt succeeds");
    assert_eq!(image.bytes, Bytes::from_static(b"image"));
    assert_eq!(fake.calls(), 3);
    // Backoff caps of 100 ms then 200 ms.
    assert_eq!(start.elapsed(), Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn does_not_retry_a_non_retryable_error() {
    let refused = Error::new(ErrorCode::Unavailable, "account in arrears").retryable(false);
    let fake = Scripted::new([Step::Answer(Err(refused))]);
    let provider = guard(&fake, &settings());
    let err = resize(&provider).await.unwrap_err();
    assert_eq!(err.message, "account in arrears");
    assert_eq!(err.provider.as_deref(), Some("fake"));
    assert_eq!(fake.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn does_not_retry_rejected_content_even_if_flagged_retryable() {
    let rejected = Error::new(ErrorCode::ContentRejected, "blocked").retryable(true);
    let fake = Scripted::new([Step::Answer(Err(rejected))]);
    let provider = guard(&fake, &settings());
    assert_eq!(
        resize(&provider).await.unwrap_err().code,
        ErrorCode::ContentRejected
    );
    assert_eq!(fake.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn honours_retry_after() {
    let throttled = Error::new(ErrorCode::ResourceExhausted, "throttling.ratequota")
        .with_retry_after(Some(Duration::from_secs(7)));
    let fake = Scripted::new([Step::Answer(Err(throttled)), Step::Answer(Ok(()))]);
    let provider = guard(&fake, &settings());
    let start = Instant::now();
    resize(&provider).await.expect("succeeds after the wait");
    assert_eq!(start.elapsed(), Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn gives_up_when_retry_after_outlasts_the_deadline() {
    let throttled = Error::new(ErrorCode::ResourceExhausted, "come back in 2 minutes")
        .with_retry_after(Some(Duration::from_secs(120)));
    let fake = Scripted::new([Step::Answer(Err(throttled))]);
    let provider = guard(&fake, &settings());
    let start = Instant::now();
    let err = resize(&provider).await.unwrap_err();
    assert_eq!(err.message, "come back in 2 minutes");
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "returns at once, no pointless wait"
    );
    assert_eq!(fake.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn stops_at_max_attempts() {
    let fake = Scripted::new((0..3).map(|_| Step::Answer(unavailable())));
    let provider = guard(&fake, &settings());
    let err = resize(&provider).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert_eq!(err.provider.as_deref(), Some("fake"));
    assert_eq!(fake.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_a_slow_call_and_drops_it() {
    let fake = Scripted::new([Step::Hang]);
    let provider = guard(&fake, &settings());
    let start = Instant::now();
    let err = resize(&provider).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(60));
    assert_eq!(err.code, ErrorCode::DeadlineExceeded);
    assert_eq!(err.provider.as_deref(), Some("fake"));
    assert!(
        err.message.contains("fake") && err.message.contains("resize"),
        "{err}"
    );
    assert!(
        fake.dropped.load(Ordering::SeqCst),
        "the inner future was dropped"
    );
    assert_eq!(fake.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_covers_retries_and_backoffs() {
    // 25 s, fail, back off, 25 s, fail, back off, then a hang cut at 60 s overall.
    let fake = Scripted::new([
        Step::Slow(Duration::from_secs(25), unavailable()),
        Step::Slow(Duration::from_secs(25), unavailable()),
        Step::Hang,
    ]);
    let provider = guard(&fake, &settings());
    let start = Instant::now();
    let err = resize(&provider).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::DeadlineExceeded);
    assert_eq!(start.elapsed(), Duration::from_secs(60));
    assert!(fake.dropped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn circuit_opens_fails_fast_half_opens_and_closes() {
    let settings = ResilienceSettings {
        max_attempts: 1,
        circuit_failures: 3,
        ..settings()
    };
    let fake = Scripted::new([
        Step::Answer(unavailable()),
        Step::Answer(unavailable()),
        Step::Answer(unavailable()),
        Step::Answer(Ok(())),
    ]);
    let provider = guard(&fake, &settings);
    for _ in 0..3 {
        assert_eq!(
            resize(&provider).await.unwrap_err().message,
            "backend is down"
        );
    }
    assert!(!provider.is_ready(Operation::Resize), "health sees it open");

    let err = resize(&provider).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert!(
        !err.retryable,
        "the engine moves to the next provider at once"
    );
    assert_eq!(err.provider.as_deref(), Some("fake"));
    assert_eq!(
        err.message,
        "provider fake is failing (circuit open for 30 s after 3 consecutive failures)"
    );
    assert_eq!(fake.calls(), 3, "an open circuit does not call the backend");

    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(provider.is_ready(Operation::Resize));
    resize(&provider).await.expect("the probe goes through");
    assert_eq!(fake.calls(), 4);
    assert!(provider.is_ready(Operation::Resize));
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_the_circuit() {
    let settings = ResilienceSettings {
        max_attempts: 1,
        circuit_failures: 1,
        ..settings()
    };
    let fake = Scripted::new([Step::Answer(unavailable()), Step::Answer(unavailable())]);
    let provider = guard(&fake, &settings);
    resize(&provider).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(
        resize(&provider).await.unwrap_err().message,
        "backend is down"
    );
    let err = resize(&provider).await.unwrap_err();
    assert!(err.message.contains("circuit open"), "{err}");
    assert_eq!(fake.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn circuits_are_per_operation() {
    let settings = ResilienceSettings {
        max_attempts: 1,
        circuit_failures: 1,
        ..settings()
    };
    let fake = Scripted::new([Step::Answer(unavailable())]);
    let provider = guard(&fake, &settings);
    resize(&provider).await.unwrap_err();
    assert!(!provider.is_ready(Operation::Resize));
    // The other operation's breaker is still closed.
    assert!(provider.is_ready(Operation::Fix));
}

#[tokio::test(start_paused = true)]
async fn retries_stop_when_the_circuit_opens_meanwhile() {
    let settings = ResilienceSettings {
        max_attempts: 5,
        circuit_failures: 2,
        ..settings()
    };
    let fake = Scripted::new((0..5).map(|_| Step::Answer(unavailable())));
    let provider = guard(&fake, &settings);
    let err = resize(&provider).await.unwrap_err();
    assert_eq!(
        err.message, "backend is down",
        "the real error, not 'circuit open'"
    );
    assert_eq!(fake.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_caller_dropping_the_call_drops_the_inner_future() {
    let fake = Scripted::new([Step::Hang, Step::Answer(Ok(()))]);
    let provider = guard(
        &fake,
        &ResilienceSettings {
            circuit_failures: 1,
            ..settings()
        },
    );
    let cut = tokio::time::timeout(Duration::from_secs(1), resize(&provider)).await;
    assert!(cut.is_err());
    assert!(fake.dropped.load(Ordering::SeqCst));
    // An abandoned call is not a failure: the circuit stays closed.
    resize(&provider).await.expect("closed");
}

#[test]
fn forwards_name_and_support() {
    let fake = Scripted::new([]);
    let provider = guard(&fake, &settings());
    assert_eq!(provider.name(), "fake");
    assert!(provider.supports(Operation::Resize));
    assert!(!provider.supports(Operation::ChangeBackground));
    assert!(!provider.is_ready(Operation::ChangeBackground));
}

async fn resize_as(provider: &Arc<dyn Provider>, caller: &str) -> Result<EncodedImage> {
    let call = Call {
        caller: Some(Arc::from(caller)),
        ..Call::default()
    };
    resize_with(provider, &call).await
}

#[tokio::test(start_paused = true)]
async fn caller_limits_queue_one_key_without_holding_up_another() {
    let slow = || Step::Slow(Duration::from_secs(10), Ok(()));
    let fake = Scripted::new([slow(), slow(), slow()]);
    let provider = super::resilient(
        Arc::clone(&fake) as Arc<dyn Provider>,
        &ResilienceSettings {
            caller_in_flight: 1,
            ..settings()
        },
    );
    let started = Instant::now();
    let (a1, a2, b) = tokio::join!(
        resize_as(&provider, "tenant-a"),
        resize_as(&provider, "tenant-a"),
        resize_as(&provider, "tenant-b"),
    );
    a1.and(a2).and(b).expect("all three succeed");
    // tenant-a's second call waited for its first; tenant-b ran beside them.
    assert_eq!(started.elapsed(), Duration::from_secs(20));
    assert_eq!(fake.calls(), 3);
}

#[test]
fn caller_limits_are_off_by_default() {
    assert_eq!(ResilienceSettings::default().caller_limits(), None);
    let limited = ResilienceSettings {
        caller_rate_per_sec: 2.0,
        caller_burst: 0,
        ..ResilienceSettings::default()
    };
    assert_eq!(limited.caller_limits(), Some((Some(2.0), 1, None)));
}
