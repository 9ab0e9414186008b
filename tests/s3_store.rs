//! The S3-compatible blob store end to end: the real server with `blob_store.kind = "s3"`
//! pointed at the S3 emulator on loopback (which verifies every SigV4 signature), results
//! and uploads kept in the bucket, links handed out as presigned GET URLs, a remote provider
//! (the DashScope emulator) fetching its inputs through them, and the bucket's faults.

mod common;
#[path = "emulators/dashscope.rs"]
mod dashscope;
#[path = "emulators/s3.rs"]
mod s3;

use std::collections::HashMap;
use std::io::Cursor;
use std::time::{Duration, Instant, SystemTime};

use common::{TestServer, inline as data, photo_png as png};
use dashscope::DashScopeEmulator;
use imgforge::config::{BlobStoreSettings, Delivery, S3Settings, Secret, Settings};
use imgforge::proto::v1 as pb;
use imgforge::proto::v1::editing_service_client::EditingServiceClient;
use imgforge::proto::v1::image_output::Location;
use s3::{Auth, BUCKET, Fault, S3Emulator};

const PREFIX: &str = "it";
const TTL_SECS: u64 = 600;

/// The emulator's bucket, short timeouts and a small retry budget.
fn bucket(emulator: &S3Emulator) -> S3Settings {
    S3Settings {
        endpoint: emulator.endpoint(),
        region: s3::REGION.into(),
        bucket: BUCKET.into(),
        access_key_id: s3::ACCESS_KEY_ID.into(),
        secret_access_key: Secret::new(s3::SECRET_ACCESS_KEY),
        key_prefix: PREFIX.into(),
        presigned_url_ttl_secs: TTL_SECS,
        request_timeout_secs: 2,
        connect_timeout_secs: 1,
        max_retries: 2,
        retry_timeout_secs: 3,
        ..S3Settings::default()
    }
}

/// A server keeping blobs in the emulator's bucket and delivering results by URL.
async fn start(
    emulator: &S3Emulator,
    configure: impl FnOnce(&mut S3Settings, &mut Settings),
) -> TestServer {
    TestServer::start_with(|s| {
        let mut s3 = bucket(emulator);
        s.results.delivery = Delivery::Url;
        configure(&mut s3, s);
        s.blob_store = BlobStoreSettings::s3(s3);
    })
    .await
}

/// Editing and character operations routed to the DashScope emulator, fast polling, inputs
/// published to the blob store (the default `blob_url` delivery).
fn use_dashscope(s: &mut Settings, emulator: &DashScopeEmulator) {
    for op in ["fix", "create_character"] {
        s.providers
            .chains
            .insert(op.to_owned(), vec!["dashscope".to_owned()]);
    }
    let d = &mut s.providers.dashscope;
    d.base_url = emulator.base_url();
    d.api_key = Secret::new(dashscope::API_KEY);
    d.poll_initial_ms = 20;
    d.poll_max_ms = 60;
    d.request_timeout_secs = 2;
    d.task_timeout_secs = 5;
    let r = &mut s.providers.resilience;
    r.max_attempts = 2;
    r.backoff_initial_ms = 50;
    r.backoff_max_ms = 100;
    r.circuit_failures = 0;
}

fn resize_to_url(bytes: Vec<u8>) -> pb::ResizeRequest {
    pb::ResizeRequest {
        image: data(bytes),
        min_dim: None,
        max_dim: Some(128),
        output: Some(pb::OutputOptions {
            format: pb::ImageFormat::Png as i32,
            quality: None,
            delivery: pb::Delivery::Url as i32,
        }),
    }
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Asserts `url` is a presigned GET URL of an object of the emulator's bucket under the key
/// prefix; returns the object key.
fn assert_presigned(emulator: &S3Emulator, url: &str) -> String {
    let bucket_url = format!("{}/{BUCKET}/{PREFIX}/", emulator.endpoint());
    assert!(url.starts_with(&bucket_url), "{url}");
    let query = query_of(url);
    assert_eq!(query["X-Amz-Algorithm"], "AWS4-HMAC-SHA256", "{url}");
    assert_eq!(query["X-Amz-Expires"], TTL_SECS.to_string(), "{url}");
    assert_eq!(query["X-Amz-Signature"].len(), 64, "{url}");
    assert!(!url.contains(s3::SECRET_ACCESS_KEY), "{url}");
    let path = url::Url::parse(url).unwrap().path().to_owned();
    path.trim_start_matches(&format!("/{BUCKET}/")).to_owned()
}

fn presigned_gets(emulator: &S3Emulator, key: &str) -> Vec<u16> {
    emulator
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET" && s.key == key && s.auth == Some(Auth::Presigned))
        .map(|s| s.status)
        .collect()
}

#[tokio::test]
async fn results_are_stored_in_the_bucket_and_served_by_their_presigned_urls() {
    let emulator = S3Emulator::start().await;
    let server = start(&emulator, |_, _| {}).await;
    let reply = server
        .utility()
        .await
        .resize(resize_to_url(png(512, 256)))
        .await
        .expect("resize succeeds")
        .into_inner();
    let image = reply.image.unwrap();
    let Some(Location::Url(url)) = image.location else {
        panic!("url delivery expected");
    };
    let key = assert_presigned(&emulator, &url);
    assert!(key.starts_with(&format!("{PREFIX}/results/")), "{key}");
    assert!(
        emulator.keys(BUCKET).contains(&key),
        "{:?}",
        emulator.keys(BUCKET)
    );
    let expires = image.url_expires_at.unwrap();
    let lives = expires.seconds - SystemTime::UNIX_EPOCH.elapsed().unwrap().as_secs() as i64;
    assert!(
        (TTL_SECS as i64 - 5..=TTL_SECS as i64).contains(&lives),
        "{lives}"
    );

    // Anyone holding the link gets the image straight from the bucket.
    let fetched = server.http.get(&url).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    let decoded = common::decode(&fetched.bytes().await.unwrap());
    assert_eq!((decoded.width(), decoded.height()), (128, 64));
    assert_eq!(presigned_gets(&emulator, &key), [200]);

    // The bucket checks the signature: a tampered link or another key is refused.
    let forged = url.replace(&key, &format!("{PREFIX}/results/other.png"));
    assert_eq!(server.http.get(&forged).send().await.unwrap().status(), 403);
    let refusals = emulator.refusals();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(refusals[0].contains("signature"), "{refusals:?}");
    // Every request the server itself made was signed in the header.
    assert!(
        emulator
            .seen()
            .iter()
            .filter(|s| s.method == "PUT")
            .all(|s| s.auth == Some(Auth::Header) && s.status == 200)
    );
    server.stop().await;
}

#[tokio::test]
async fn uploads_are_kept_in_the_bucket_and_read_back_by_id() {
    let emulator = S3Emulator::start().await;
    let server = start(&emulator, |_, _| {}).await;
    let mut utility = server.utility().await;
    let receipt = utility
        .upload_image(pb::UploadImageRequest {
            image: Some(pb::ImageInput {
                source: Some(pb::image_input::Source::Data(png(300, 200))),
            }),
        })
        .await
        .expect("upload succeeds")
        .into_inner();
    let key = format!("{PREFIX}/uploads/{}", receipt.upload_id);
    assert!(
        emulator.object(BUCKET, &key).is_some(),
        "{:?}",
        emulator.keys(BUCKET)
    );
    let reply = utility
        .resize(pb::ResizeRequest {
            image: Some(pb::ImageInput {
                source: Some(pb::image_input::Source::UploadId(receipt.upload_id)),
            }),
            min_dim: None,
            max_dim: Some(150),
            output: None,
        })
        .await
        .expect("resize of an upload succeeds")
        .into_inner();
    let image = reply.image.unwrap();
    assert_eq!((image.width, image.height), (150, 100));
    assert!(
        emulator
            .seen()
            .iter()
            .any(|s| s.method == "GET" && s.key == key && s.status == 200)
    );

    // An id the bucket does not hold is still "not found", not a store failure.
    let missing = utility
        .resize(pb::ResizeRequest {
            image: Some(pb::ImageInput {
                source: Some(pb::image_input::Source::UploadId(
                    uuid::Uuid::new_v4().to_string(),
                )),
            }),
            min_dim: None,
            max_dim: Some(150),
            output: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        missing.code(),
        tonic::Code::NotFound,
        "{}",
        missing.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_remote_provider_fetches_byte_inputs_through_presigned_bucket_urls() {
    let emulator = S3Emulator::start().await;
    let provider = DashScopeEmulator::start().await;
    let server = start(&emulator, |_, s| use_dashscope(s, &provider)).await;
    let input = png(600, 520);
    let reply = EditingServiceClient::new(server.channel().await)
        .fix(pb::FixRequest {
            base_image: data(input.clone()),
            prompt: String::new(),
            upscale_factor: None,
            output: None,
        })
        .await
        .expect("fix succeeds")
        .into_inner();

    // DashScope was given a presigned URL of the bucket, and fetched the input through it.
    let sent = &provider.submitted()[0];
    let input_url = sent.body["input"]["base_image_url"].as_str().unwrap();
    let key = assert_presigned(&emulator, input_url);
    assert!(
        key.starts_with(&format!("{PREFIX}/provider-inputs/")),
        "{key}"
    );
    assert!(key.ends_with(".png"), "{key}");
    assert_eq!(emulator.object(BUCKET, &key).unwrap(), input);
    assert_eq!(presigned_gets(&emulator, &key), [200]);

    // The result was brought home and stored in the bucket too.
    let image = reply.image.unwrap();
    let Some(Location::Url(result_url)) = image.location else {
        panic!("url delivery expected");
    };
    assert_presigned(&emulator, &result_url);
    let fetched = server.http.get(&result_url).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    let decoded = common::decode(&fetched.bytes().await.unwrap());
    assert_eq!((decoded.width(), decoded.height()), (1200, 1040));

    // The same input again is published once and linked anew.
    EditingServiceClient::new(server.channel().await)
        .fix(pb::FixRequest {
            base_image: data(input),
            prompt: String::new(),
            upscale_factor: None,
            output: None,
        })
        .await
        .expect("second fix succeeds");
    let puts = emulator
        .seen()
        .iter()
        .filter(|s| s.method == "PUT" && s.key == key)
        .count();
    assert_eq!(puts, 1);
    server.stop().await;
}

#[tokio::test]
async fn create_character_over_rest_answers_with_a_presigned_bucket_url() {
    let emulator = S3Emulator::start().await;
    let provider = DashScopeEmulator::start().await;
    let server = start(&emulator, |_, s| use_dashscope(s, &provider)).await;
    let jpeg = {
        let image = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            600,
            800,
            image::Rgb([200, 150, 120]),
        ));
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
            .unwrap();
        out
    };
    let form = reqwest::multipart::Form::new()
        .part(
            "photo",
            reqwest::multipart::Part::bytes(jpeg).file_name("me.jpg"),
        )
        .text("style_preset", "cartoon");
    let res = server
        .http
        .post(server.url("/create-character"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], 0, "{body}");
    let oss_url = body["message"]["character_image_oss_url"].as_str().unwrap();
    assert_eq!(body["message"]["character_image_url"], oss_url);
    assert_presigned(&emulator, oss_url);
    let fetched = server.http.get(oss_url).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    common::decode(&fetched.bytes().await.unwrap());

    let sent = &provider.submitted()[0];
    assert_eq!(sent.model, "wanx-style-repaint-v1");
    let input_key = assert_presigned(&emulator, sent.body["input"]["image_url"].as_str().unwrap());
    assert_eq!(presigned_gets(&emulator, &input_key), [200]);
    server.stop().await;
}

/// Runs a resize delivered by URL and returns its error and how long it took.
async fn failing_resize(server: &TestServer) -> (tonic::Status, Duration) {
    let started = Instant::now();
    let err = server
        .utility()
        .await
        .resize(resize_to_url(png(64, 64)))
        .await
        .expect_err("the store fails");
    eprintln!("{:?}: {}", err.code(), err.message());
    (err, started.elapsed())
}

#[tokio::test]
async fn a_bucket_answering_500_fails_the_request_clearly_after_bounded_retries() {
    let emulator = S3Emulator::start().await;
    emulator.fail_with(Fault::Status(500, "InternalError"));
    let server = start(&emulator, |_, _| {}).await;
    let (err, took) = failing_resize(&server).await;
    assert_eq!(err.code(), tonic::Code::Unavailable, "{}", err.message());
    assert!(
        err.message().contains("s3 bucket `imgforge`"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("cannot store"), "{}", err.message());
    assert!(err.message().contains("500"), "{}", err.message());
    assert!(took < Duration::from_secs(8), "took {took:?}");
    // One attempt and max_retries = 2 retries.
    let puts = emulator.seen().iter().filter(|s| s.method == "PUT").count();
    assert_eq!(puts, 3);

    // Once the bucket recovers, so does the server.
    emulator.heal();
    server
        .utility()
        .await
        .resize(resize_to_url(png(64, 64)))
        .await
        .expect("works again");
    server.stop().await;
}

#[tokio::test]
async fn a_bucket_refusing_access_is_a_failed_precondition_naming_what_to_check() {
    let emulator = S3Emulator::start().await;
    emulator.fail_with(Fault::Status(403, "AccessDenied"));
    let server = start(&emulator, |_, _| {}).await;
    let (err, took) = failing_resize(&server).await;
    assert_eq!(
        err.code(),
        tonic::Code::FailedPrecondition,
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("access denied (AccessDenied)"),
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("blob_store.s3.access_key_id"),
        "{}",
        err.message()
    );
    // A refusal is not retried.
    assert_eq!(emulator.seen().len(), 1);
    assert!(took < Duration::from_secs(2), "took {took:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_signature_check_and_reported_so() {
    let emulator = S3Emulator::start().await;
    let server = start(&emulator, |s3, _| {
        s3.secret_access_key = Secret::new("not-the-secret");
    })
    .await;
    let (err, _) = failing_resize(&server).await;
    assert_eq!(
        err.code(),
        tonic::Code::FailedPrecondition,
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("SignatureDoesNotMatch"),
        "{}",
        err.message()
    );
    assert!(
        !err.message().contains("not-the-secret"),
        "{}",
        err.message()
    );
    assert!(
        emulator.refusals()[0].contains("signature"),
        "{:?}",
        emulator.refusals()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_missing_bucket_is_named_in_the_error() {
    let emulator = S3Emulator::start().await;
    let server = start(&emulator, |s3, _| s3.bucket = "no-such-bucket".into()).await;
    let (err, _) = failing_resize(&server).await;
    assert_eq!(
        err.code(),
        tonic::Code::FailedPrecondition,
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("s3 bucket `no-such-bucket`"),
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("the bucket does not exist"),
        "{}",
        err.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_bucket_that_never_answers_times_out_instead_of_hanging() {
    let emulator = S3Emulator::start().await;
    emulator.fail_with(Fault::Stall);
    let server = start(&emulator, |s3, _| {
        s3.request_timeout_secs = 1;
        s3.max_retries = 1;
        s3.retry_timeout_secs = 1;
    })
    .await;
    let (err, took) = failing_resize(&server).await;
    assert_eq!(err.code(), tonic::Code::Unavailable, "{}", err.message());
    assert!(
        err.message().contains("did not answer in time"),
        "{}",
        err.message()
    );
    assert!(took < Duration::from_secs(6), "took {took:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_failing_bucket_stops_a_remote_call_before_the_provider_is_asked() {
    let emulator = S3Emulator::start().await;
    emulator.fail_with(Fault::Status(403, "AccessDenied"));
    let provider = DashScopeEmulator::start().await;
    let server = start(&emulator, |_, s| use_dashscope(s, &provider)).await;
    let started = Instant::now();
    let err = EditingServiceClient::new(server.channel().await)
        .fix(pb::FixRequest {
            base_image: data(png(600, 520)),
            prompt: String::new(),
            upscale_factor: None,
            output: None,
        })
        .await
        .expect_err("the input cannot be published");
    assert_eq!(
        err.code(),
        tonic::Code::FailedPrecondition,
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("s3 bucket `imgforge`"),
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("provider-inputs/"),
        "{}",
        err.message()
    );
    assert!(provider.submitted().is_empty());
    assert!(started.elapsed() < Duration::from_secs(3));
    server.stop().await;
}
