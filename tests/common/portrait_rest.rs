//! Seed 003 over signed REST, as a tenant's client calls it, and a callback receiver on
//! loopback. Shared by the portrait tests (included with `#[path]`).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use imgforge::auth::canonical::{self, SignedRequest};
use serde_json::{Value, json};

/// A whole training + generation on the CPU takes seconds; this only bounds a hung test.
pub const PATIENCE: Duration = Duration::from_secs(600);

/// The request-signing headers of `key` for one call (user `user-1`).
pub fn headers(
    key: &str,
    secret: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let timestamp = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64)
        .to_string();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let body_sha256 = canonical::body_sha256(body);
    let text = canonical::canonical_string(&SignedRequest {
        method,
        path,
        query: "",
        key,
        user: "user-1",
        timestamp: &timestamp,
        nonce: &nonce,
        body_sha256: &body_sha256,
    })
    .unwrap();
    vec![
        ("x-imgforge-key", key.to_owned()),
        ("x-imgforge-user", "user-1".to_owned()),
        ("x-imgforge-timestamp", timestamp),
        ("x-imgforge-nonce", nonce),
        ("x-imgforge-content-sha256", body_sha256),
        ("x-imgforge-signature", canonical::signature(secret, &text)),
    ]
}

/// The photos of `../shared/testdata/portrait_set/` (name, bytes), sorted; `None` (with the
/// printed reason, or a failure under IMGFORGE_REQUIRE_ALL) when the folder is absent. The
/// including test crate must declare `mod common`.
pub fn portrait_set() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = crate::common::testdata_dir().join("portrait_set");
    let mut photos: Vec<std::path::PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            crate::common::unavailable(format_args!("{} is missing ({e})", dir.display()));
            return None;
        }
    };
    photos.sort();
    Some(
        photos
            .into_iter()
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect(),
    )
}

/// One tenant's signed REST client of a server at `base` (`http://host:port`).
pub struct Rest {
    pub http: reqwest::Client,
    pub base: String,
    pub key: &'static str,
    pub secret: &'static str,
}

impl Rest {
    pub fn new(
        http: &reqwest::Client,
        base: &str,
        key: &'static str,
        secret: &'static str,
    ) -> Rest {
        Rest {
            http: http.clone(),
            base: base.to_owned(),
            key,
            secret,
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut request = if method == "GET" {
            self.http.get(url)
        } else {
            self.http.post(url)
        };
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in headers(self.key, self.secret, method, path, &body) {
            request = request.header(name, value);
        }
        let response = request.body(body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(
            "POST",
            path,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn upload(&self, photo: &[u8]) -> String {
        let boundary = "imgforgeportraitboundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\n\
             Content-Type: image/jpeg\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(photo);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let (status, reply) = self
            .send("POST", "/cloud/upload_file", Some(&content_type), body)
            .await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["ret"], 0, "{reply}");
        reply["body"].as_str().unwrap().to_owned()
    }

    /// The first style of `aigc_product_brief_query`.
    pub async fn first_style(&self) -> String {
        let (status, styles) = self
            .send("GET", "/cloud/aigc_product_brief_query", None, Vec::new())
            .await;
        assert_eq!(status, 200, "{styles}");
        styles["body"][0]["style"].as_str().unwrap().to_owned()
    }

    /// Polls aigc_task_query until the task ends.
    pub async fn until_done(&self, task_id: &str) -> Value {
        let started = Instant::now();
        loop {
            let (status, reply) = self
                .post("/cloud/aigc_task_query", json!({ "task_id": task_id }))
                .await;
            assert_eq!(status, 200, "{reply}");
            let state = reply["body"]["state"].as_i64().unwrap();
            assert!((1..=5).contains(&state), "{reply}");
            if state >= 3 {
                return reply["body"].clone();
            }
            assert!(
                started.elapsed() < PATIENCE,
                "task {task_id} did not end: {reply}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A callback receiver on loopback: answers 500 to the first `failures` deliveries, 200
/// after, and keeps what it was sent.
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<(axum::http::HeaderMap, bytes::Bytes)>>>,
    pub failures: usize,
}

impl Receiver {
    pub fn failing(failures: usize) -> Receiver {
        Receiver {
            failures,
            ..Receiver::default()
        }
    }

    /// Serves on a free loopback port; returns the callback URL.
    pub async fn start(&self) -> String {
        let got = self.got.clone();
        let failures = self.failures;
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: bytes::Bytes| async move {
                    let mut got = got.lock().unwrap();
                    got.push((headers, body));
                    if got.len() <= failures {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    pub fn deliveries(&self) -> Vec<(axum::http::HeaderMap, bytes::Bytes)> {
        self.got.lock().unwrap().clone()
    }
}
