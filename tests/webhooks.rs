//! Signed callbacks against a real loopback receiver: retries keep one `webhook-id` and a
//! verifiable signature, `Retry-After` and 410 are honoured, unsafe URLs never connect, and a
//! silent receiver times out. Waits between attempts are recorded, not slept.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use imgforge::config::{Secret, Settings, WebhookSettings};
use imgforge::error::ErrorCode;
use imgforge::state::ManualClock;
use imgforge::webhooks::{
    AttemptOutcome, CallbackSink, Deliverer, DeliveryOutcome, InMemoryAttemptLog, Pause, Verifier,
    WebhookSecret,
};
use serde_json::json;

const TENANT: &str = "ak_tenant";
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// One scripted answer of the receiver.
#[derive(Clone)]
enum Reply {
    Status(u16),
    StatusWith(u16, &'static str, &'static str),
    Body(u16, usize),
    Silence,
}

#[derive(Default)]
struct Receiver {
    script: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<(HeaderMap, Bytes)>>,
    hits: AtomicUsize,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receiver.hits.fetch_add(1, Ordering::SeqCst);
    receiver.seen.lock().unwrap().push((headers, body));
    let reply = receiver
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Reply::Status(200));
    let status = |code: u16| StatusCode::from_u16(code).unwrap();
    match reply {
        Reply::Status(code) => status(code).into_response(),
        Reply::StatusWith(code, name, value) => (status(code), [(name, value)]).into_response(),
        Reply::Body(code, len) => (status(code), "x".repeat(len)).into_response(),
        Reply::Silence => std::future::pending().await,
    }
}

async fn receiver(script: Vec<Reply>) -> (Arc<Receiver>, SocketAddr) {
    let receiver = Arc::new(Receiver {
        script: Mutex::new(script.into()),
        ..Receiver::default()
    });
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (receiver, addr)
}

/// Records each wait instead of sleeping it.
#[derive(Default)]
struct RecordedPauses(Mutex<Vec<Duration>>);

#[async_trait]
impl Pause for RecordedPauses {
    async fn pause(&self, wait: Duration) {
        self.0.lock().unwrap().push(wait);
    }
}

impl RecordedPauses {
    fn waits(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

struct Harness {
    deliverer: Deliverer,
    log: Arc<InMemoryAttemptLog>,
    pauses: Arc<RecordedPauses>,
    now: SystemTime,
}

fn start_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_780_000_000)
}

/// A deliverer with `allow` as the address-policy exceptions and no jitter, so waits are exact.
fn harness(allow: &[&str], configure: impl FnOnce(&mut WebhookSettings)) -> Harness {
    let mut fetch = Settings::embedded().fetch;
    fetch.allow = allow.iter().map(|a| (*a).to_owned()).collect();
    fetch.resolve.insert(
        "callback.example".to_owned(),
        vec!["127.0.0.1".parse().unwrap()],
    );
    let mut settings = WebhookSettings {
        retry_schedule_secs: vec![5, 300],
        jitter: 0.0,
        max_retry_after_secs: 60,
        ..WebhookSettings::default()
    };
    settings
        .secrets
        .insert(TENANT.to_owned(), vec![Secret::new(SECRET)]);
    configure(&mut settings);
    let log = Arc::new(InMemoryAttemptLog::default());
    let pauses = Arc::new(RecordedPauses::default());
    let deliverer = Deliverer::new(&fetch, &settings, log.clone())
        .unwrap()
        .with_clock(Arc::new(ManualClock::at(start_time())))
        .with_pause(pauses.clone());
    Harness {
        deliverer,
        log,
        pauses,
        now: start_time(),
    }
}

fn task_body() -> serde_json::Value {
    json!({"ret": 0, "body": {"state": 3, "id": "T1", "tsk_type": 2, "result_paths": ["a.jpg"]}})
}

fn outcomes(log: &InMemoryAttemptLog) -> Vec<AttemptOutcome> {
    log.attempts().iter().map(|a| a.outcome).collect()
}

#[tokio::test]
async fn a_500_then_200_is_delivered_on_the_second_attempt_with_one_id_and_a_valid_signature() {
    let (receiver, addr) = receiver(vec![Reply::Status(500), Reply::Status(200)]).await;
    let h = harness(&["127.0.0.1"], |_| {});
    let url = format!("http://{addr}/hook");
    let outcome = h
        .deliverer
        .deliver(TENANT, "msg_T1_done", &url, &task_body())
        .await
        .unwrap();
    assert_eq!(outcome, DeliveryOutcome::Delivered { attempts: 2 });
    assert_eq!(h.pauses.waits(), [Duration::from_secs(5)]);
    assert_eq!(
        outcomes(&h.log),
        [AttemptOutcome::Retrying, AttemptOutcome::Delivered]
    );
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let verifier = Verifier::new(
        vec![WebhookSecret::parse(SECRET).unwrap()],
        Duration::from_secs(300),
    );
    for (headers, body) in &seen {
        assert_eq!(headers["webhook-id"], "msg_T1_done");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(
            headers["webhook-timestamp"],
            h.now
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
                .to_string()
        );
        assert_eq!(verifier.verify(headers, body, h.now), Ok(()));
        let sent: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(sent, task_body());
    }
    // A receiver holding another secret refuses it.
    let stranger = Verifier::new(
        vec![WebhookSecret::generate().unwrap()],
        Duration::from_secs(300),
    );
    assert!(stranger.verify(&seen[1].0, &seen[1].1, h.now).is_err());
}

#[tokio::test]
async fn a_429_with_retry_after_waits_as_asked_up_to_the_cap() {
    let (receiver, addr) = receiver(vec![
        Reply::StatusWith(429, "retry-after", "42"),
        Reply::StatusWith(503, "retry-after", "86400"),
        Reply::Status(204),
    ])
    .await;
    let h = harness(&["127.0.0.1"], |_| {});
    let outcome = h
        .deliverer
        .deliver(
            TENANT,
            "msg_a",
            &format!("http://{addr}/hook"),
            &task_body(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, DeliveryOutcome::Delivered { attempts: 3 });
    // 42 s asked beats the 5 s of the schedule; a day asked is cut to the 60 s cap, which the
    // 300 s of the schedule then beats.
    assert_eq!(
        h.pauses.waits(),
        [Duration::from_secs(42), Duration::from_secs(300)]
    );
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 3);
    let statuses: Vec<_> = h.log.attempts().iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(429), Some(503), Some(204)]);
}

#[tokio::test]
async fn a_410_disables_the_endpoint_for_later_deliveries() {
    let (receiver, addr) = receiver(vec![Reply::Status(410)]).await;
    let h = harness(&["127.0.0.1"], |_| {});
    let url = format!("http://{addr}/hook");
    let first = h
        .deliverer
        .deliver(TENANT, "msg_1", &url, &task_body())
        .await;
    assert_eq!(first.unwrap(), DeliveryOutcome::Disabled { attempts: 1 });
    let second = h
        .deliverer
        .deliver(TENANT, "msg_2", &url, &task_body())
        .await;
    assert_eq!(second.unwrap(), DeliveryOutcome::Disabled { attempts: 0 });
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 1);
    assert!(h.pauses.waits().is_empty());
    assert_eq!(outcomes(&h.log), [AttemptOutcome::Disabled]);
}

#[tokio::test]
async fn gives_up_after_the_schedule() {
    let (receiver, addr) = receiver(vec![Reply::Status(500); 5]).await;
    let h = harness(&["127.0.0.1"], |_| {});
    let outcome = h
        .deliverer
        .deliver(
            TENANT,
            "msg_x",
            &format!("http://{addr}/hook"),
            &task_body(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, DeliveryOutcome::GaveUp { attempts: 3 });
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 3);
    assert_eq!(
        h.pauses.waits(),
        [Duration::from_secs(5), Duration::from_secs(300)]
    );
    assert_eq!(
        outcomes(&h.log),
        [
            AttemptOutcome::Retrying,
            AttemptOutcome::Retrying,
            AttemptOutcome::GaveUp
        ]
    );
}

#[tokio::test]
async fn jitter_lengthens_each_wait_within_its_fraction() {
    let (_receiver, addr) = receiver(vec![Reply::Status(500); 3]).await;
    let h = harness(&["127.0.0.1"], |s| s.jitter = 0.5);
    h.deliverer
        .deliver(
            TENANT,
            "msg_j",
            &format!("http://{addr}/hook"),
            &task_body(),
        )
        .await
        .unwrap();
    let waits = h.pauses.waits();
    assert_eq!(waits.len(), 2);
    for (wait, base) in waits.iter().zip([5u64, 300]) {
        let base = Duration::from_secs(base);
        assert!(*wait >= base && *wait <= base.mul_f64(1.5), "{wait:?}");
    }
}

#[tokio::test]
async fn unsafe_urls_are_refused_without_connecting() {
    let (receiver, addr) = receiver(vec![]).await;
    let h = harness(&[], |_| {});
    let cases = [
        (format!("http://{addr}/hook"), "a loopback address"),
        (
            "http://169.254.169.254/latest/meta-data".to_owned(),
            "cloud metadata",
        ),
        ("http://10.1.2.3/hook".to_owned(), "a private address"),
        ("file:///etc/passwd".to_owned(), "only http and https"),
        ("not a url".to_owned(), "is not a URL"),
        // A host name is judged by what it resolves to (pinned here to 127.0.0.1).
        (
            format!("http://callback.example:{}/hook", addr.port()),
            "resolves to 127.0.0.1, which is a loopback address",
        ),
    ];
    for (url, reason) in cases {
        let err = h
            .deliverer
            .deliver(TENANT, "msg_u", &url, &task_body())
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument, "{url}");
        assert_eq!(err.field.as_deref(), Some("callback_url"), "{url}");
        let message = err.to_string();
        assert!(message.contains("callback_url"), "{url}: {message}");
        assert!(message.contains(reason), "{url}: {message}");
    }
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 0);
    assert!(
        outcomes(&h.log)
            .iter()
            .all(|o| *o == AttemptOutcome::Refused)
    );
    assert!(h.pauses.waits().is_empty());
    // The check callers make at task creation says the same, before any delivery.
    let err = h.deliverer.check_url("http://127.0.0.1/x").unwrap_err();
    assert!(err.to_string().contains("callback_url"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_silent_receiver_times_out_each_attempt() {
    let (receiver, addr) = receiver(vec![Reply::Silence, Reply::Silence]).await;
    let h = harness(&["127.0.0.1"], |s| {
        s.retry_schedule_secs = vec![5];
        s.attempt_timeout_secs = 15;
    });
    let started = tokio::time::Instant::now();
    let outcome = h
        .deliverer
        .deliver(
            TENANT,
            "msg_t",
            &format!("http://{addr}/hook"),
            &task_body(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, DeliveryOutcome::GaveUp { attempts: 2 });
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 2);
    // Two attempts of 15 s each on the paused clock; the wait between them was recorded.
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    let attempts = h.log.attempts();
    assert!(attempts.iter().all(|a| a.detail == "no answer within 15 s"));
    assert!(attempts.iter().all(|a| a.status.is_none()));
}

#[tokio::test]
async fn a_long_answer_is_read_only_up_to_the_cap() {
    let (_receiver, addr) = receiver(vec![Reply::Body(500, 1 << 20), Reply::Status(200)]).await;
    let h = harness(&["127.0.0.1"], |s| s.max_response_bytes = 64);
    let outcome = h
        .deliverer
        .deliver(
            TENANT,
            "msg_c",
            &format!("http://{addr}/hook"),
            &task_body(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, DeliveryOutcome::Delivered { attempts: 2 });
    assert_eq!(h.log.attempts()[0].detail, "x".repeat(64));
}

#[tokio::test]
async fn a_tenant_without_a_secret_is_refused_naming_the_setting() {
    let (receiver, addr) = receiver(vec![]).await;
    let h = harness(&["127.0.0.1"], |_| {});
    let err = h
        .deliverer
        .deliver(
            "ak_other",
            "msg_s",
            &format!("http://{addr}/hook"),
            &task_body(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::FailedPrecondition);
    assert!(err.to_string().contains("webhooks.master_secret"), "{err}");
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 0);
}
