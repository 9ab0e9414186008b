//! [`Guarded`]: any provider behind a deadline, retries and a circuit breaker.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tracing::Instrument;

use crate::domain::params::{
    ChangeBackgroundParams, ChangeClothesParams, ConvertParams, CreateCharacterParams,
    ExpandParams, FixParams, RemoveBackgroundParams, RemoveWatermarkParams, ResizeParams,
    TextToImageParams,
};
use crate::domain::{EncodedImage, Operation, SourceImage};
use crate::error::{Error, ErrorCode, Result};
use crate::providers::resilience::ResilienceSettings;
use crate::providers::resilience::circuit::CircuitBreaker;
use crate::providers::resilience::retry::RetryPolicy;
use crate::providers::{Character, Composites, Edited, Provider};

/// A provider whose every call runs through [`Guarded::call`]:
///
/// - one deadline for the whole call, attempts and backoffs included; when it passes the
///   attempt's future is dropped (adapters cancel their remote task on drop) and the call
///   fails with `DeadlineExceeded`;
/// - retries of retryable errors, with jittered exponential backoff and `Retry-After`;
/// - a circuit breaker per operation, so one failing backend model (DashScope runs a
///   different model, with its own quota and outages, for each operation) does not take the
///   provider's other operations down with it, and health reports each operation on its own.
pub struct Guarded {
    inner: Arc<dyn Provider>,
    name: &'static str,
    timeout: Option<Duration>,
    retry: RetryPolicy,
    circuits: BTreeMap<Operation, CircuitBreaker>,
}

impl Guarded {
    pub fn new(inner: Arc<dyn Provider>, settings: &ResilienceSettings) -> Self {
        let name = inner.name();
        let circuits = Operation::ALL
            .into_iter()
            .map(|op| {
                let breaker = CircuitBreaker::new(
                    name,
                    op,
                    settings.circuit_failures,
                    settings.circuit_open(),
                );
                (op, breaker)
            })
            .collect();
        Guarded {
            inner,
            name,
            timeout: settings.timeout(),
            retry: RetryPolicy::new(settings),
            circuits,
        }
    }

    #[cfg(test)]
    fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    fn circuit(&self, op: Operation) -> &CircuitBreaker {
        self.circuits
            .get(&op)
            .expect("a breaker exists for every operation")
    }

    /// Runs `attempt` (one call of the inner provider) under the guards; every trait method
    /// goes through here.
    #[tracing::instrument(
        name = "provider_call",
        skip_all,
        fields(provider = self.name, operation = %op, attempt = tracing::field::Empty)
    )]
    async fn call<T, F, Fut>(&self, op: Operation, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
        T: Send,
    {
        let provider = self.name;
        let operation = op.name();
        let circuit = self.circuit(op);
        let deadline = self.timeout.map(|timeout| Instant::now() + timeout);
        let mut number: u32 = 1;
        let mut permit = circuit.admit()?;
        loop {
            tracing::Span::current().record("attempt", number);
            let result = self.attempt(op, number, deadline, attempt()).await;
            permit.settle(&result);
            let err = match result {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let Some(wait) = self.retry.wait_before_retry(number, &err, remaining) else {
                return Err(err);
            };
            let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            crate::telemetry::metrics::provider_retry(provider, op);
            tracing::warn!(
                provider,
                operation,
                attempt = number,
                wait_ms,
                error = %err,
                "retrying provider call"
            );
            tokio::time::sleep(wait).await;
            // The circuit may have opened meanwhile (other calls failing too); this call's own
            // error then says more than "circuit open".
            permit = match circuit.admit() {
                Ok(permit) => permit,
                Err(_) => return Err(err),
            };
            number += 1;
        }
    }

    /// One attempt, cut at `deadline`; its error always names the provider.
    async fn attempt<T>(
        &self,
        op: Operation,
        number: u32,
        deadline: Option<Instant>,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let span = tracing::info_span!(
            "provider_attempt",
            attempt = number,
            outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty
        );
        let call = call.instrument(span.clone());
        let result = match deadline {
            None => call.await,
            // On expiry `timeout_at` drops `call`, which is how the adapter learns to cancel.
            Some(deadline) => match tokio::time::timeout_at(deadline, call).await {
                Ok(result) => result,
                Err(_elapsed) => Err(self.deadline_exceeded(op)),
            },
        };
        crate::telemetry::provider::record_outcome(&span, &result);
        result.map_err(|err| {
            if err.provider.is_some() {
                err
            } else {
                err.with_provider(self.name)
            }
        })
    }

    fn deadline_exceeded(&self, op: Operation) -> Error {
        let secs = self.timeout.map_or(0, |t| t.as_secs());
        Error::new(
            ErrorCode::DeadlineExceeded,
            format!(
                "provider {} did not finish {op} within {secs} s (providers.resilience.timeout_secs)",
                self.name
            ),
        )
        .with_provider(self.name)
    }
}

#[async_trait]
impl Provider for Guarded {
    fn name(&self) -> &'static str {
        self.name
    }

    fn supports(&self, op: Operation) -> bool {
        self.inner.supports(op)
    }

    fn is_ready(&self, op: Operation) -> bool {
        self.inner.is_ready(op) && self.circuit(op).is_ready()
    }

    fn unready_reason(&self, op: Operation) -> Option<String> {
        self.inner.unready_reason(op).or_else(|| {
            (!self.circuit(op).is_ready())
                .then(|| format!("provider {} is failing (circuit open)", self.name))
        })
    }

    async fn resize(&self, image: SourceImage, params: ResizeParams) -> Result<EncodedImage> {
        self.call(Operation::Resize, || {
            self.inner.resize(image.clone(), params)
        })
        .await
    }

    async fn convert_to_png(
        &self,
        image: SourceImage,
        params: ConvertParams,
    ) -> Result<Vec<EncodedImage>> {
        self.call(Operation::ConvertToPng, || {
            self.inner.convert_to_png(image.clone(), params)
        })
        .await
    }

    async fn remove_background(
        &self,
        image: SourceImage,
        params: RemoveBackgroundParams,
    ) -> Result<EncodedImage> {
        self.call(Operation::RemoveBackground, || {
            self.inner.remove_background(image.clone(), params.clone())
        })
        .await
    }

    async fn change_background(
        &self,
        base: SourceImage,
        background: SourceImage,
        params: ChangeBackgroundParams,
    ) -> Result<Composites> {
        self.call(Operation::ChangeBackground, || {
            self.inner
                .change_background(base.clone(), background.clone(), params.clone())
        })
        .await
    }

    async fn change_clothes(
        &self,
        person: SourceImage,
        top: Option<SourceImage>,
        bottom: Option<SourceImage>,
        params: ChangeClothesParams,
    ) -> Result<Edited> {
        self.call(Operation::ChangeClothes, || {
            self.inner
                .change_clothes(person.clone(), top.clone(), bottom.clone(), params.clone())
        })
        .await
    }

    async fn expand(&self, image: SourceImage, params: ExpandParams) -> Result<Edited> {
        self.call(Operation::Expand, || {
            self.inner.expand(image.clone(), params.clone())
        })
        .await
    }

    async fn fix(&self, image: SourceImage, params: FixParams) -> Result<Edited> {
        self.call(Operation::Fix, || {
            self.inner.fix(image.clone(), params.clone())
        })
        .await
    }

    async fn remove_watermark(
        &self,
        image: SourceImage,
        params: RemoveWatermarkParams,
    ) -> Result<Edited> {
        self.call(Operation::RemoveWatermark, || {
            self.inner.remove_watermark(image.clone(), params.clone())
        })
        .await
    }

    async fn text_to_image(&self, params: TextToImageParams) -> Result<Edited> {
        self.call(Operation::GenerateCover, || {
            self.inner.text_to_image(params.clone())
        })
        .await
    }

    async fn create_character(
        &self,
        photo: SourceImage,
        params: CreateCharacterParams,
    ) -> Result<Character> {
        self.call(Operation::CreateCharacter, || {
            self.inner.create_character(photo.clone(), params)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    use bytes::Bytes;

    use super::*;
    use crate::domain::ImageFormat;
    use crate::domain::params::OutputSpec;

    /// What the fake does on one call.
    enum Step {
        Answer(Result<()>),
        /// Answers after a while.
        Slow(Duration, Result<()>),
        /// Never answers; sets the flag when its future is dropped.
        Hang,
    }

    /// A provider whose `resize` plays a script, one step per call, and counts calls.
    struct Scripted {
        script: Mutex<VecDeque<Step>>,
        calls: AtomicU32,
        dropped: Arc<AtomicBool>,
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

        fn supports(&self, op: Operation) -> bool {
            op == Operation::Resize
        }

        async fn resize(&self, image: SourceImage, _: ResizeParams) -> Result<EncodedImage> {
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
            outcome.map(|()| EncodedImage {
                bytes: image.bytes,
                format: image.format,
                width: image.width,
                height: image.height,
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
        }
    }

    /// `fake` behind the guards, with the longest backoff instead of a random one.
    fn guard(fake: &Arc<Scripted>, settings: &ResilienceSettings) -> Guarded {
        let inner: Arc<dyn Provider> = Arc::clone(fake) as Arc<dyn Provider>;
        Guarded::new(inner, settings).with_retry(RetryPolicy::new(settings).with_jitter(|cap| cap))
    }

    async fn resize(provider: &Guarded) -> Result<EncodedImage> {
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
        provider.resize(image, params).await
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
        // The fake supports resize only; the other operation's breaker is still closed.
        assert!(provider.circuit(Operation::ChangeBackground).is_ready());
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
        assert!(!provider.supports(Operation::Fix));
        assert!(!provider.is_ready(Operation::Fix));
    }
}
