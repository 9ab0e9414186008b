//! Shared test fixtures: a real server on port 0, real photos, and loopback file servers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use imgforge::config::{BlobStoreSettings, Settings};
use imgforge::proto::v1::utility_service_client::UtilityServiceClient;
use imgforge::server::RunningServer;
use tonic::transport::Channel;

/// A running imgforge with clients for both transports.
pub struct TestServer {
    pub server: Option<RunningServer>,
    pub grpc_addr: SocketAddr,
    pub http_base: String,
    pub http: reqwest::Client,
    _blob_dir: tempfile::TempDir,
    _state_dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server on ephemeral loopback ports with a private blob directory;
    /// `configure` edits the settings first.
    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> TestServer {
        let blob_dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::embedded();
        settings.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
        settings.server.http_addr = "127.0.0.1:0".parse().unwrap();
        settings.server.shutdown_grace_secs = 5;
        settings.blob_store = BlobStoreSettings::local(blob_dir.path());
        // Its own folder: the blob sweeper owns everything under the blob directory.
        let state_dir = tempfile::tempdir().expect("temp dir");
        settings.state.data_dir = state_dir.path().to_path_buf();
        configure(&mut settings);
        let server = imgforge::server::start(settings)
            .await
            .expect("server starts");
        TestServer {
            grpc_addr: server.grpc_addr,
            http_base: format!("http://{}", server.http_addr),
            server: Some(server),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            _blob_dir: blob_dir,
            _state_dir: state_dir,
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.grpc_addr))
            .unwrap()
            .connect()
            .await
            .expect("grpc connects")
    }

    pub async fn utility(&self) -> UtilityServiceClient<Channel> {
        UtilityServiceClient::new(self.channel().await)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http_base)
    }

    /// Fails the test unless the server still answers a trivial request.
    pub async fn assert_alive(&self) {
        let res = self
            .http
            .get(self.url("/healthz"))
            .send()
            .await
            .expect("server answers");
        assert_eq!(res.status(), 200);
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
    }
}

/// Whether a missing prerequisite (`../shared`, a model, a test photo, ONNX Runtime) fails
/// the test instead of skipping it: `IMGFORGE_REQUIRE_ALL=1` (or `true`) forces it, `=0` (or
/// `false`) turns it off, and unset it follows `CI` (`true` or `1`). `scripts/test.sh` sets
/// `IMGFORGE_REQUIRE_ALL=1` when `CI=true`. The unit tests follow the same rule
/// (src/test_support.rs).
pub fn strict() -> bool {
    let flag = |value: &str| {
        matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes"
        )
    };
    match std::env::var("IMGFORGE_REQUIRE_ALL") {
        Ok(value) if !value.trim().is_empty() => flag(&value),
        _ => std::env::var("CI").is_ok_and(|ci| flag(&ci)),
    }
}

/// The one place a test gives up for want of something outside the repository: panics naming
/// `what` when [`strict`], else prints why the test skips. Callers return early after it.
#[track_caller]
pub fn unavailable(what: impl std::fmt::Display) {
    if strict() {
        panic!(
            "required here (CI=true or IMGFORGE_REQUIRE_ALL=1) but unavailable: {what}; \
             set IMGFORGE_REQUIRE_ALL=0 to skip instead"
        );
    }
    eprintln!("skipping: {what}");
}

/// The shared folder: `$IMGFORGE_SHARED_DIR`, else `../shared` next to the crate.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("IMGFORGE_SHARED_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    }
}

/// The shared test photos, or `None` (reason printed) where absent; a failure when [`strict`].
#[track_caller]
pub fn testdata(name: &str) -> Option<Vec<u8>> {
    let path = testdata_dir().join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            unavailable(format_args!(
                "test photo {} is missing ({e})",
                path.display()
            ));
            None
        }
    }
}

pub fn testdata_dir() -> PathBuf {
    shared_dir().join("testdata")
}

/// Returns early from a test (printing why) when a test photo is missing; fails when [`strict`].
#[macro_export]
macro_rules! photo {
    ($name:expr) => {
        match common::testdata($name) {
            Some(bytes) => bytes,
            None => return,
        }
    };
}

/// A PNG whose header claims `width`×`height`, with a valid CRC but almost no data: a
/// decompression bomb as far as a naive decoder is concerned.
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(b"IHDR");
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    let mut idat = b"IDAT".to_vec();
    idat.extend_from_slice(&[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    png.extend_from_slice(&((idat.len() - 4) as u32).to_be_bytes());
    png.extend_from_slice(&idat);
    png.extend_from_slice(&crc32(&idat).to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A loopback HTTP server standing in for the internet: `/files/<name>` serves a file given
/// to [`FileServer::host`] or else a test photo (with a misleading Content-Type),
/// `/redirect?to=<url>` answers 302.
pub struct FileServer {
    pub addr: SocketAddr,
    hosted: Hosted,
}

type Hosted = Arc<Mutex<HashMap<String, Vec<u8>>>>;

#[derive(serde::Deserialize)]
struct RedirectTo {
    to: String,
}

impl FileServer {
    pub async fn start() -> FileServer {
        let hosted = Hosted::default();
        let app = Router::new()
            .route("/files/{name}", get(serve_file))
            .route(
                "/redirect",
                get(|Query(q): Query<RedirectTo>| async move { Redirect::to(&q.to) }),
            )
            .with_state(hosted.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FileServer { addr, hosted }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Serves `bytes` at `/files/<name>`; its URL.
    pub fn host(&self, name: &str, bytes: Vec<u8>) -> String {
        self.hosted.lock().unwrap().insert(name.to_owned(), bytes);
        self.url(&format!("/files/{name}"))
    }
}

async fn serve_file(State(hosted): State<Hosted>, Path(name): Path<String>) -> Response {
    if let Some(bytes) = hosted.lock().unwrap().get(&name).cloned() {
        return ([(header::CONTENT_TYPE, "text/plain")], bytes).into_response();
    }
    match std::fs::read(testdata_dir().join(&name)) {
        // Deliberately wrong, so the server must sniff the bytes.
        Ok(bytes) => ([(header::CONTENT_TYPE, "text/plain")], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

pub fn decode(bytes: &[u8]) -> image::DynamicImage {
    image::load_from_memory(bytes).expect("result decodes")
}

/// The shared model folder, or `None` (reason printed) where it is absent; a failure when
/// [`strict`].
#[track_caller]
pub fn models_dir() -> Option<PathBuf> {
    let dir = shared_dir().join("models");
    if dir.join("u2netp.onnx").is_file() {
        Some(dir)
    } else {
        unavailable(format_args!("{} has no u2netp.onnx", dir.display()));
        None
    }
}

impl TestServer {
    /// A server whose local engine reads the shared models; `None` (reason printed) where
    /// the models or the ONNX Runtime library are unavailable; a failure when [`strict`].
    pub async fn with_models(configure: impl FnOnce(&mut Settings)) -> Option<TestServer> {
        let dir = models_dir()?;
        let server = TestServer::start_with(|s| {
            s.models.dir = dir;
            configure(s);
        })
        .await;
        let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "imgforge.v1.EditingService".into(),
            })
            .await
            .expect("health answers")
            .into_inner()
            .status;
        if status != tonic_health::pb::health_check_response::ServingStatus::Serving as i32 {
            server.stop().await;
            unavailable(format_args!(
                "the local engine is not ready: ONNX Runtime cannot be loaded ({})",
                ort_hint()
            ));
            return None;
        }
        Some(server)
    }
}

/// The bytes a `data:` URI carries.
pub fn data_uri_bytes(uri: &str) -> Vec<u8> {
    use base64::Engine as _;
    let (_, data) = uri.split_once(";base64,").expect("a data: URI");
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("base64")
}

/// The bytes behind a result URL: a `data:` URI's, or what a GET of it answers (200 only).
pub async fn result_bytes(http: &reqwest::Client, url: &str) -> Vec<u8> {
    if url.starts_with("data:") {
        return data_uri_bytes(url);
    }
    let res = http.get(url).send().await.expect("the result URL answers");
    assert_eq!(res.status(), 200, "GET {url}");
    res.bytes().await.expect("result body").to_vec()
}

/// A photo-like PNG of `w` × `h`: every pixel differs from its neighbours, so codecs and
/// providers see real content rather than a flat fill.
pub fn photo_png(w: u32, h: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    encode(
        &image::DynamicImage::ImageRgb8(image),
        image::ImageFormat::Png,
    )
}

/// An image input carrying `bytes` inline.
pub fn inline(bytes: Vec<u8>) -> Option<imgforge::proto::v1::ImageInput> {
    Some(imgforge::proto::v1::ImageInput {
        source: Some(imgforge::proto::v1::image_input::Source::Data(bytes)),
    })
}

/// `image` encoded as `format`.
pub fn encode(image: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut out), format)
        .expect("encodes");
    out
}

/// The shared model folder when the local segmentation model can really run there (model
/// file and ONNX Runtime library present); `None`, reason printed, otherwise; a failure when
/// [`strict`].
#[track_caller]
pub fn segmentation_ready() -> Option<PathBuf> {
    let dir = models_dir()?;
    let mut settings = Settings::embedded();
    settings.models.dir = dir.clone();
    if imgforge::providers::local::Segmenter::new(&settings.models).is_ready(None) {
        Some(dir)
    } else {
        unavailable(format_args!(
            "the local segmentation model cannot run: ONNX Runtime cannot be loaded ({})",
            ort_hint()
        ));
        None
    }
}

/// A TIFF (big-endian) EXIF block holding only an Orientation tag (1–8).
pub fn exif_orientation(orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    tiff
}

/// A 40×20 picture, red on the left and blue on the right: stored landscape, so that a
/// rotation is easy to see.
pub fn sideways_picture() -> image::RgbImage {
    image::RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            image::Rgb([220, 20, 20])
        } else {
            image::Rgb([20, 20, 220])
        }
    })
}

/// [`sideways_picture`] as a JPEG carrying an EXIF APP1 segment with `orientation`.
pub fn jpeg_with_orientation(orientation: u16) -> Vec<u8> {
    let jpeg = encode(
        &image::DynamicImage::ImageRgb8(sideways_picture()),
        image::ImageFormat::Jpeg,
    );
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(exif_orientation(orientation));
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// [`sideways_picture`] as a PNG with an `eXIf` chunk carrying `orientation`.
pub fn png_with_orientation(orientation: u16) -> Vec<u8> {
    let png = encode(
        &image::DynamicImage::ImageRgb8(sideways_picture()),
        image::ImageFormat::Png,
    );
    // Signature (8) and IHDR (25); eXIf must come before IDAT.
    let mut out = png[..33].to_vec();
    let exif = exif_orientation(orientation);
    let mut chunk = b"eXIf".to_vec();
    chunk.extend_from_slice(&exif);
    out.extend_from_slice(&(exif.len() as u32).to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    out.extend_from_slice(&png[33..]);
    out
}

/// [`sideways_picture`] as an extended (VP8X) lossless WebP with an `EXIF` chunk.
pub fn webp_with_orientation(orientation: u16) -> Vec<u8> {
    let simple = encode(
        &image::DynamicImage::ImageRgb8(sideways_picture()),
        image::ImageFormat::WebP,
    );
    // RIFF(4) size(4) WEBP(4), then the VP8L chunk.
    let image_chunk = &simple[12..];
    let mut vp8x = b"VP8X".to_vec();
    vp8x.extend_from_slice(&10u32.to_le_bytes());
    vp8x.push(0x08); // EXIF present
    vp8x.extend_from_slice(&[0, 0, 0]);
    vp8x.extend_from_slice(&39u32.to_le_bytes()[..3]); // width - 1
    vp8x.extend_from_slice(&19u32.to_le_bytes()[..3]); // height - 1
    let exif = exif_orientation(orientation);
    let mut exif_chunk = b"EXIF".to_vec();
    exif_chunk.extend_from_slice(&(exif.len() as u32).to_le_bytes());
    exif_chunk.extend_from_slice(&exif);
    if exif.len() % 2 == 1 {
        exif_chunk.push(0);
    }
    let mut body = b"WEBP".to_vec();
    body.extend(vp8x);
    body.extend_from_slice(image_chunk);
    body.extend(exif_chunk);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

/// [`sideways_picture`] as a TIFF whose Orientation tag is `orientation`.
pub fn tiff_with_orientation(orientation: u16) -> Vec<u8> {
    use tiff::encoder::{TiffEncoder, colortype};
    let picture = sideways_picture();
    let mut out = std::io::Cursor::new(Vec::new());
    let mut encoder = TiffEncoder::new(&mut out).expect("tiff encoder");
    let mut page = encoder
        .new_image::<colortype::RGB8>(40, 20)
        .expect("tiff page");
    page.encoder()
        .write_tag(tiff::tags::Tag::Orientation, orientation)
        .expect("orientation tag");
    page.write_data(picture.as_raw()).expect("tiff data");
    out.into_inner()
}

/// Whether `image` shows [`sideways_picture`] turned upright by orientation 6 (a quarter turn
/// clockwise): 20×40, red on top, blue below.
pub fn is_upright(image: &image::DynamicImage) -> bool {
    let rgb = image.to_rgb8();
    if rgb.dimensions() != (20, 40) {
        return false;
    }
    let top = rgb.get_pixel(10, 5).0;
    let bottom = rgb.get_pixel(10, 35).0;
    top[0] > 150 && top[2] < 100 && bottom[2] > 150 && bottom[0] < 100
}

/// Why ONNX Runtime cannot be loaded, in the loader's own words.
fn ort_hint() -> String {
    match imgforge::providers::local::models::runtime::library(&Settings::embedded().models) {
        Ok(_) => "the library loads, yet the model is not ready".into(),
        Err(e) => e.message,
    }
}
