//! Cost of checking one signed request (issue 11 goal: < 50 µs p99 at 1,000 req/s on 2 cores).
//!
//! `cargo bench --bench signature_check` measures, per request:
//! - `crypto`: canonical string, body SHA-256 and HMAC-SHA256 with the constant-time compare;
//! - `full/<store>`: the whole [`Authenticator::authenticate`] (headers, key, timestamp, body
//!   hash, signature, nonce written to the state store, rate limit), paced at 1,000 req/s, on
//!   SQLite (a temp dir) and on PostgreSQL at 127.0.0.1:5432 when it is there
//!   (`IMGFORGE_TEST_POSTGRES_URL` overrides).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use imgforge::auth::canonical::{self, SignedRequest};
use imgforge::auth::{Authenticator, RequestHead};
use imgforge::config::{AuthSettings, StateSettings};
use imgforge::state::{StateStore, SystemClock};

const KEY: &str = "ak_bench";
const SECRET: &str = "sk_bench_0123456789abcdef";
const PATH: &str = "/v1/agent/cover";
const REQUESTS: usize = 3_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    println!(
        "{name:<28} n={:<5} p50={:>7.1} µs  p99={:>7.1} µs  max={:>8.1} µs",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.last().unwrap().as_secs_f64() * 1e6,
    );
}

fn signed_headers(body: &[u8]) -> HeaderMap {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let body_sha256 = canonical::body_sha256(body);
    let text = canonical::canonical_string(&SignedRequest {
        method: "POST",
        path: PATH,
        query: "",
        key: KEY,
        user: "user-42",
        timestamp: &timestamp,
        nonce: &nonce,
        body_sha256: &body_sha256,
    })
    .unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-imgforge-key", KEY.to_owned()),
        ("x-imgforge-user", "user-42".to_owned()),
        ("x-imgforge-timestamp", timestamp),
        ("x-imgforge-nonce", nonce),
        ("x-imgforge-content-sha256", body_sha256),
        ("x-imgforge-signature", canonical::signature(SECRET, &text)),
    ] {
        headers.insert(name, value.parse().unwrap());
    }
    headers
}

fn crypto(body: &[u8], runs: usize) -> Vec<Duration> {
    let headers = signed_headers(body);
    let get = |name: &str| headers.get(name).unwrap().to_str().unwrap();
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            let hash = canonical::body_sha256(body);
            let text = canonical::canonical_string(&SignedRequest {
                method: "POST",
                path: PATH,
                query: "",
                key: KEY,
                user: get("x-imgforge-user"),
                timestamp: get("x-imgforge-timestamp"),
                nonce: get("x-imgforge-nonce"),
                body_sha256: &hash,
            })
            .unwrap();
            let expected = canonical::signature_bytes(SECRET, &text);
            let sent = hex::decode(get("x-imgforge-signature")).unwrap();
            assert!(bool::from(subtle::ConstantTimeEq::ct_eq(
                &expected[..],
                &sent[..]
            )));
            start.elapsed()
        })
        .collect()
}

async fn full(store: Arc<dyn StateStore>, body: &[u8]) -> Vec<Duration> {
    let mut settings = AuthSettings::default();
    settings
        .add_keys_from_env(&format!("{KEY}={SECRET}"))
        .unwrap();
    settings.rate_per_sec = 0.0;
    let authenticator = Authenticator::new(&settings, store);
    // Headers are made ahead so only the check is timed.
    let requests: Vec<HeaderMap> = (0..REQUESTS).map(|_| signed_headers(body)).collect();
    let mut pace = tokio::time::interval(Duration::from_millis(1));
    let mut samples = Vec::with_capacity(REQUESTS);
    for headers in &requests {
        pace.tick().await;
        let head = RequestHead {
            method: "POST",
            path: PATH,
            query: "",
            headers,
        };
        let start = Instant::now();
        authenticator
            .authenticate(&head, body)
            .await
            .expect("valid request");
        samples.push(start.elapsed());
    }
    samples
}

async fn postgres() -> Option<Arc<dyn StateStore>> {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let url = std::env::var("IMGFORGE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let admin = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await
        .map_err(|e| println!("PostgreSQL skipped: {e}"))
        .ok()?;
    let schema = "bench_signature_check";
    admin
        .execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}").as_str())
        .await
        .ok()?;
    let settings = StateSettings {
        url: format!("{url}?options[search_path]={schema}"),
        ..StateSettings::default()
    };
    imgforge::state::open(&settings, Arc::new(SystemClock))
        .await
        .ok()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let small = br#"{"gender":"female","age":"18-25","ethnicity":"Asian","bodyType":"Slim"}"#;
    let large = vec![7u8; 1 << 20];
    report("crypto, 72 B body", crypto(small, 10_000));
    report("crypto, 1 MiB body", crypto(&large, 300));

    let dir = tempfile::tempdir().unwrap();
    let sqlite = imgforge::state::open(
        &StateSettings {
            data_dir: dir.path().to_path_buf(),
            ..StateSettings::default()
        },
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    report("full/sqlite, 72 B body", full(sqlite, small).await);
    if let Some(pg) = postgres().await {
        report("full/postgres, 72 B body", full(pg, small).await);
    }
}
