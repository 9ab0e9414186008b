//! Request signing on both transports against a real server: a valid signed call passes, and a
//! missing header, a stale timestamp, an unknown key, a bad signature, a tampered body and a
//! replayed nonce are each refused (HTTP 401 in seed 001's envelope / UNAUTHENTICATED). Also
//! the option catalogue and reference images those calls reach.

mod common;

use std::io::Cursor;
use std::time::{SystemTime, UNIX_EPOCH};

use common::TestServer;
use imgforge::auth::canonical::{self, SignedRequest};
use imgforge::config::ApiKeySettings;
use imgforge::config::Secret;
use imgforge::proto::v1 as pb;
use imgforge::proto::v1::cover_service_client::CoverServiceClient;
use prost::Message;
use serde_json::Value;
use tonic::Code;
use tonic::metadata::MetadataValue;

const KEY: &str = "ak_test_2026";
const SECRET: &str = "sk_test_9f8e7d6c5b4a";
const NEXT_SECRET: &str = "sk_rotated_0123456789";
const OPTIONS_PATH: &str = "/v1/config/options";
const OPTIONS_RPC: &str = "/imgforge.v1.CoverService/ListCoverOptions";

async fn signed_server(rate_per_sec: f64, burst: u32) -> TestServer {
    TestServer::start_with(|settings| {
        settings.auth.keys = vec![
            ApiKeySettings {
                id: KEY.into(),
                secrets: vec![Secret::new(SECRET), Secret::new(NEXT_SECRET)],
                active: true,
                rate_per_sec: Some(rate_per_sec),
                rate_burst: Some(burst),
            },
            ApiKeySettings {
                id: "ak_retired".into(),
                secrets: vec![Secret::new("sk_retired_secret")],
                active: false,
                rate_per_sec: None,
                rate_burst: None,
            },
        ];
    })
    .await
}

/// How a test bends one part of an otherwise correct signature.
#[derive(Clone)]
struct Signer {
    key: String,
    secret: String,
    user: String,
    timestamp: i64,
    nonce: String,
}

impl Signer {
    fn new() -> Signer {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        Signer {
            key: KEY.into(),
            secret: SECRET.into(),
            user: "user-42".into(),
            timestamp: now.as_millis() as i64,
            nonce: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// The six headers for `body` sent to `path` (no query).
    fn headers(&self, path: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let body_sha256 = canonical::body_sha256(body);
        let timestamp = self.timestamp.to_string();
        let text = canonical::canonical_string(&SignedRequest {
            method: "POST",
            path,
            query: "",
            key: &self.key,
            user: &self.user,
            timestamp: &timestamp,
            nonce: &self.nonce,
            body_sha256: &body_sha256,
        })
        .unwrap();
        vec![
            ("x-imgforge-key", self.key.clone()),
            ("x-imgforge-user", self.user.clone()),
            ("x-imgforge-timestamp", timestamp),
            ("x-imgforge-nonce", self.nonce.clone()),
            ("x-imgforge-content-sha256", body_sha256),
            (
                "x-imgforge-signature",
                canonical::signature(&self.secret, &text),
            ),
        ]
    }
}

async fn rest(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
) -> (u16, Value) {
    let mut request = server
        .http
        .post(server.url(path))
        .header("content-type", content_type)
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn options_body() -> Vec<u8> {
    br#"{"namespace":"custom_agent"}"#.to_vec()
}

async fn options_call(server: &TestServer, headers: Vec<(&'static str, String)>) -> (u16, Value) {
    rest(
        server,
        OPTIONS_PATH,
        "application/json",
        options_body(),
        headers,
    )
    .await
}

fn assert_refused(status: u16, body: &Value, expected: &str, leaked: &[&str]) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], 10401, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert!(
        body["traceId"].is_string() && body["timestamp"].is_string(),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    for secret in leaked {
        assert!(!message.contains(secret), "{message:?} leaks {secret}");
    }
}

/// One way to get a signature wrong: (what, signer, header to drop, body sent instead of the
/// signed one, the message expected).
type Fault = (
    &'static str,
    Signer,
    Option<&'static str>,
    Option<Vec<u8>>,
    &'static str,
);

fn faults() -> Vec<Fault> {
    let good = Signer::new();
    let stale = Signer {
        timestamp: good.timestamp - 301_000,
        ..Signer::new()
    };
    let future = Signer {
        timestamp: good.timestamp + 301_000,
        ..Signer::new()
    };
    let unknown = Signer {
        key: "ak_nobody".into(),
        ..Signer::new()
    };
    let inactive = Signer {
        key: "ak_retired".into(),
        secret: "sk_retired_secret".into(),
        ..Signer::new()
    };
    let wrong_secret = Signer {
        secret: "sk_guessed".into(),
        ..Signer::new()
    };
    vec![
        (
            "missing signature",
            Signer::new(),
            Some("x-imgforge-signature"),
            None,
            "missing header x-imgforge-signature",
        ),
        (
            "missing nonce",
            Signer::new(),
            Some("x-imgforge-nonce"),
            None,
            "missing header x-imgforge-nonce",
        ),
        (
            "missing key",
            Signer::new(),
            Some("x-imgforge-key"),
            None,
            "missing header x-imgforge-key",
        ),
        ("stale timestamp", stale, None, None, "timestamp is wrong"),
        ("future timestamp", future, None, None, "timestamp is wrong"),
        ("unknown key", unknown, None, None, "unknown or inactive"),
        ("inactive key", inactive, None, None, "unknown or inactive"),
        (
            "bad signature",
            wrong_secret,
            None,
            None,
            "signature is wrong",
        ),
        (
            "tampered body",
            Signer::new(),
            None,
            Some(br#"{"namespace":"other"}"#.to_vec()),
            "body hash is wrong",
        ),
    ]
}

#[tokio::test]
async fn rest_accepts_a_signed_call_and_refuses_each_kind_of_bad_signature() {
    let server = signed_server(1000.0, 1000).await;

    let signer = Signer::new();
    let headers = signer.headers(OPTIONS_PATH, &options_body());
    let (status, body) = options_call(&server, headers.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], 10200);
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "OK");
    assert_eq!(body["data"]["Age"][0]["code"], "18-25", "{body}");
    assert!(body["data"]["HairStyle"].is_array());

    let (status, body) = options_call(&server, headers).await;
    assert_refused(status, &body, "nonce was already used", &[]);

    for (what, signer, drop, tampered, expected) in faults() {
        let signed_body = options_body();
        let mut headers = signer.headers(OPTIONS_PATH, &signed_body);
        let expected_signature = headers[5].1.clone();
        if let Some(name) = drop {
            headers.retain(|(n, _)| *n != name);
        }
        let sent = tampered.unwrap_or(signed_body);
        let (status, body) = rest(&server, OPTIONS_PATH, "application/json", sent, headers).await;
        eprintln!("{what}: {body}");
        assert_refused(status, &body, expected, &[SECRET, &expected_signature]);
    }

    // The second secret of a key being rotated verifies as well.
    let rotated = Signer {
        secret: NEXT_SECRET.into(),
        ..Signer::new()
    };
    let (status, body) =
        options_call(&server, rotated.headers(OPTIONS_PATH, &options_body())).await;
    assert_eq!(status, 200, "{body}");

    // Paths outside /v1/ need no signature.
    server.assert_alive().await;
    server.stop().await;
}

fn grpc_request(
    signer: &Signer,
    message: pb::ListCoverOptionsRequest,
    drop: Option<&str>,
    signed: Option<&pb::ListCoverOptionsRequest>,
) -> tonic::Request<pb::ListCoverOptionsRequest> {
    let signed_bytes = signed.unwrap_or(&message).encode_to_vec();
    let mut request = tonic::Request::new(message);
    for (name, value) in signer.headers(OPTIONS_RPC, &signed_bytes) {
        if Some(name) == drop {
            continue;
        }
        request
            .metadata_mut()
            .insert(name, MetadataValue::try_from(value.as_str()).unwrap());
    }
    request
}

#[tokio::test]
async fn grpc_accepts_a_signed_call_and_refuses_each_kind_of_bad_signature() {
    let server = signed_server(1000.0, 1000).await;
    let mut client = CoverServiceClient::new(server.channel().await);
    let message = pb::ListCoverOptionsRequest {
        namespace: "custom_agent".into(),
    };

    let signer = Signer::new();
    let reply = client
        .list_cover_options(grpc_request(&signer, message.clone(), None, None))
        .await
        .expect("a signed call passes")
        .into_inner();
    let names: Vec<_> = reply.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Age",
            "Ethnicity",
            "BodyType",
            "BreastSize",
            "ButtSize",
            "HairColor",
            "HairStyle"
        ]
    );
    let body_type = &reply.groups[2];
    let curvy = body_type
        .options
        .iter()
        .find(|o| o.code == "Curvy")
        .unwrap();
    assert_eq!(curvy.genders, [i32::from(pb::Gender::Female)]);

    let replay = client
        .list_cover_options(grpc_request(&signer, message.clone(), None, None))
        .await
        .expect_err("a replay is refused");
    assert_eq!(replay.code(), Code::Unauthenticated);
    assert!(
        replay.message().contains("nonce was already used"),
        "{replay:?}"
    );

    for (what, signer, drop, tampered, expected) in faults() {
        let sent = if tampered.is_some() {
            pb::ListCoverOptionsRequest {
                namespace: "other".into(),
            }
        } else {
            message.clone()
        };
        let status = client
            .list_cover_options(grpc_request(&signer, sent, drop, Some(&message)))
            .await
            .expect_err(what);
        assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
        assert!(
            status.message().contains(expected),
            "{what}: {:?} lacks {expected:?}",
            status.message()
        );
        assert!(!status.message().contains(SECRET));
    }

    // An unguarded service answers without any signature.
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health needs no signature");
    server.stop().await;
}

#[tokio::test]
async fn a_key_over_its_rate_is_told_to_slow_down_on_both_transports() {
    let server = signed_server(0.01, 2).await;
    for _ in 0..2 {
        let (status, body) = options_call(
            &server,
            Signer::new().headers(OPTIONS_PATH, &options_body()),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let response = server
        .http
        .post(server.url(OPTIONS_PATH))
        .header("content-type", "application/json")
        .headers({
            let mut map = reqwest::header::HeaderMap::new();
            for (name, value) in Signer::new().headers(OPTIONS_PATH, &options_body()) {
                map.insert(name, value.parse().unwrap());
            }
            map
        })
        .body(options_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("rate limit"),
        "{body}"
    );

    let mut client = CoverServiceClient::new(server.channel().await);
    let message = pb::ListCoverOptionsRequest::default();
    let status = client
        .list_cover_options(grpc_request(&Signer::new(), message, None, None))
        .await
        .expect_err("over the rate");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    server.stop().await;
}

#[tokio::test]
async fn the_readme_example_signs_with_openssl_and_curl() {
    let server = signed_server(1000.0, 1000).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/signed_request.sh");
    let base = server.http_base.clone();
    let output = tokio::process::Command::new("bash")
        .arg(script)
        .arg(&base)
        .arg(OPTIONS_PATH)
        .arg(r#"{"namespace":"custom_agent"}"#)
        .env("IMGFORGE_KEY", KEY)
        .env("IMGFORGE_SECRET", SECRET)
        .env("IMGFORGE_USER", "user-42")
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .await;
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => panic!(
            "the README example failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(e) => {
            common::unavailable(format_args!("bash to run the README example: {e}"));
            return;
        }
    };
    let body: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(body["code"], 10200, "{body}");
    server.stop().await;
}

fn tiny_png() -> Vec<u8> {
    let image = image::RgbImage::from_pixel(16, 12, image::Rgb([200, 80, 40]));
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

fn multipart(field: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "imgforge-test-boundary-7f3a";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"{field}\"; filename=\"ref.png\"\r\n\
             content-type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_reference_image_is_uploaded_signed_on_both_transports() {
    let server = signed_server(1000.0, 1000).await;
    let png = tiny_png();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();

    let path = "/v1/agent/ref-image";
    let (content_type, body) = multipart("image", &png);
    let headers = Signer::new().headers(path, &body);
    let (status, reply) = rest(&server, path, &content_type, body, headers).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["code"], 10200);
    let id = reply["data"]["refImageId"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let expires: u128 = reply["data"]["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(expires > now_ms + 60_000, "{expires}");

    // Not an image: refused in seed 001's business-error shape, naming the field.
    let (content_type, body) = multipart("image", b"not an image at all");
    let headers = Signer::new().headers(path, &body);
    let (status, reply) = rest(&server, path, &content_type, body, headers).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["code"], 10400, "{reply}");
    assert_eq!(reply["success"], false);

    let mut client = CoverServiceClient::new(server.channel().await);
    let message = pb::UploadReferenceImageRequest {
        image: Some(pb::ImageInput {
            source: Some(pb::image_input::Source::Data(png)),
        }),
    };
    let signer = Signer::new();
    let mut request = tonic::Request::new(message.clone());
    for (name, value) in signer.headers(
        "/imgforge.v1.CoverService/UploadReferenceImage",
        &message.encode_to_vec(),
    ) {
        request
            .metadata_mut()
            .insert(name, MetadataValue::try_from(value.as_str()).unwrap());
    }
    let reply = client
        .upload_reference_image(request)
        .await
        .expect("signed upload passes")
        .into_inner();
    assert!(uuid::Uuid::parse_str(&reply.ref_image_id).is_ok());
    assert_ne!(reply.ref_image_id, id);
    assert!(reply.expires_at.is_some());

    let unsigned = client
        .upload_reference_image(message)
        .await
        .expect_err("unsigned is refused when keys exist");
    assert_eq!(unsigned.code(), Code::Unauthenticated);
    assert!(unsigned.message().contains("missing header x-imgforge-key"));
    server.stop().await;
}

#[tokio::test]
async fn without_keys_loopback_accepts_unsigned_calls_and_validates_the_namespace() {
    let server = TestServer::start().await;
    let mut client = CoverServiceClient::new(server.channel().await);
    let reply = client
        .list_cover_options(pb::ListCoverOptionsRequest::default())
        .await
        .expect("unsigned on loopback")
        .into_inner();
    assert_eq!(reply.groups.len(), 7);
    let status = client
        .list_cover_options(pb::ListCoverOptionsRequest {
            namespace: "nope".into(),
        })
        .await
        .expect_err("unknown namespace");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("custom_agent"), "{status:?}");

    let (status, body) = rest(
        &server,
        OPTIONS_PATH,
        "application/json",
        Vec::new(),
        vec![],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], 10200);
    let (status, body) = rest(
        &server,
        OPTIONS_PATH,
        "application/json",
        br#"{"namespace":"nope"}"#.to_vec(),
        vec![],
    )
    .await;
    assert_eq!(
        (status, body["code"].clone()),
        (200, 10400.into()),
        "{body}"
    );

    let (content_type, body) = multipart("image", &tiny_png());
    let (status, reply) = rest(&server, "/v1/agent/ref-image", &content_type, body, vec![]).await;
    assert_eq!(
        (status, reply["code"].clone()),
        (200, 10200.into()),
        "{reply}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_reachable_address_without_keys_refuses_to_start_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = imgforge::config::Settings::embedded();
    settings.server.grpc_addr = "0.0.0.0:0".parse().unwrap();
    settings.server.http_addr = "127.0.0.1:0".parse().unwrap();
    settings.blob_store = imgforge::config::BlobStoreSettings::local(dir.path());
    settings.state.data_dir = dir.path().join("state"); // never started: the start policy refuses first
    let err = imgforge::server::start(settings.clone())
        .await
        .err()
        .expect("refuses to start");
    assert!(err.to_string().contains("allow_anonymous"), "{err}");
}
