//! Model files in the models directory: whether they are there, whether they are the official
//! bytes, and fetching them from their official location.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::Md5;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, ErrorCode, Result};
use crate::providers::local::models::registry::{ModelFile, ModelSpec, Source};

/// Where a file of `spec` lives.
pub fn file_path(dir: &Path, file: &ModelFile) -> PathBuf {
    dir.join(file.path)
}

/// Whether every file of the model is present (not whether it is intact; see [`verify_file`]).
pub fn is_installed(dir: &Path, spec: &ModelSpec) -> bool {
    spec.files.iter().all(|f| file_path(dir, f).is_file())
}

/// Bytes on disk of the model's files that are present.
pub fn installed_size(dir: &Path, spec: &ModelSpec) -> u64 {
    spec.files
        .iter()
        .filter_map(|f| std::fs::metadata(file_path(dir, f)).ok())
        .map(|m| m.len())
        .sum()
}

/// sha256 and md5 of some bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub sha256: String,
    pub md5: String,
    pub size: u64,
}

#[derive(Default)]
struct Hasher {
    sha256: Sha256,
    md5: Md5,
    size: u64,
}

impl Hasher {
    fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        self.md5.update(bytes);
        self.size += bytes.len() as u64;
    }

    fn finish(self) -> Digests {
        Digests {
            sha256: hex::encode(self.sha256.finalize()),
            md5: hex::encode(self.md5.finalize()),
            size: self.size,
        }
    }
}

/// Hashes a file (blocking; a 1 GB model takes a few seconds).
pub fn digest_file(path: &Path) -> std::io::Result<Digests> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Missing,
    /// The sha256 is the registry's.
    Verified,
    /// No sha256 is known; the md5 rembg publishes for the file matches.
    VerifiedByMd5 {
        sha256: String,
    },
    /// The registry knows no hash for this file.
    Unverifiable {
        sha256: String,
    },
    Mismatch {
        algorithm: &'static str,
        expected: String,
        actual: String,
    },
}

impl Check {
    /// Whether the file can be used: present and not known to be wrong.
    pub fn is_usable(&self) -> bool {
        matches!(
            self,
            Check::Verified | Check::VerifiedByMd5 { .. } | Check::Unverifiable { .. }
        )
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, Check::Missing | Check::Mismatch { .. })
    }

    /// One short word for tables.
    pub fn label(&self) -> &'static str {
        match self {
            Check::Missing => "-",
            Check::Verified => "yes",
            Check::VerifiedByMd5 { .. } => "yes (md5)",
            Check::Unverifiable { .. } => "unknown",
            Check::Mismatch { .. } => "MISMATCH",
        }
    }

    /// A sentence about `path`.
    pub fn describe(&self, path: &Path) -> String {
        let path = path.display();
        match self {
            Check::Missing => format!("{path}: not installed"),
            Check::Verified => format!("{path}: ok (sha256 matches)"),
            Check::VerifiedByMd5 { sha256 } => format!(
                "{path}: ok (sha256 unknown to the registry; md5 matches rembg's published checksum; sha256 {sha256})"
            ),
            Check::Unverifiable { sha256 } => format!(
                "{path}: cannot verify, the registry knows no hash for it (sha256 {sha256})"
            ),
            Check::Mismatch {
                algorithm,
                expected,
                actual,
            } => format!(
                "{path}: {algorithm} mismatch: expected {expected}, got {actual}; fetch it again"
            ),
        }
    }
}

/// Compares digests with what the registry knows; the sha256 wins when both are known.
pub fn judge(file: &ModelFile, digests: &Digests) -> Check {
    if let Some(expected) = file.sha256 {
        return if digests.sha256 == expected {
            Check::Verified
        } else {
            Check::Mismatch {
                algorithm: "sha256",
                expected: expected.to_owned(),
                actual: digests.sha256.clone(),
            }
        };
    }
    match file.md5 {
        Some(expected) if digests.md5 == expected => Check::VerifiedByMd5 {
            sha256: digests.sha256.clone(),
        },
        Some(expected) => Check::Mismatch {
            algorithm: "md5",
            expected: expected.to_owned(),
            actual: digests.md5.clone(),
        },
        None => Check::Unverifiable {
            sha256: digests.sha256.clone(),
        },
    }
}

/// Hashes the installed file and judges it (blocking).
pub fn verify_file(dir: &Path, file: &ModelFile) -> std::io::Result<Check> {
    let path = file_path(dir, file);
    if !path.is_file() {
        return Ok(Check::Missing);
    }
    Ok(judge(file, &digest_file(&path)?))
}

/// What [`Fetcher::fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The file was already there and intact (or unverifiable); nothing was downloaded.
    AlreadyInstalled(Check),
    Downloaded {
        bytes: u64,
        check: Check,
    },
}

/// Downloads model files from their official location (or a mirror holding the same file
/// names), checks them and moves them into place.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    mirror: Option<String>,
}

impl Fetcher {
    pub fn new() -> Result<Fetcher> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            // Per read, not per download: a 1 GB model takes minutes on a slow link.
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("imgforge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::internal(format!("cannot build the download client: {e}")))?;
        Ok(Fetcher {
            client,
            mirror: None,
        })
    }

    /// Downloads `<base>/<file name of the official URL>` instead of the official URL.
    pub fn with_mirror(mut self, base: impl Into<String>) -> Fetcher {
        self.mirror = Some(base.into().trim_end_matches('/').to_owned());
        self
    }

    /// The URL a direct download of `url` is fetched from.
    pub fn url_for(&self, url: &str) -> String {
        match &self.mirror {
            Some(base) => {
                let name = url.rsplit('/').next().unwrap_or(url);
                format!("{base}/{name}")
            }
            None => url.to_owned(),
        }
    }

    /// Installs one file into `dir`, unless an intact copy is there already.
    pub async fn fetch(&self, dir: &Path, file: &ModelFile) -> Result<Fetched> {
        let dest = file_path(dir, file);
        if dest.is_file() {
            let existing = {
                let (dir, file) = (dir.to_path_buf(), *file);
                tokio::task::spawn_blocking(move || verify_file(&dir, &file))
                    .await
                    .map_err(|e| Error::internal(e.to_string()))?
                    .map_err(|e| io_error(&dest, &e))?
            };
            if existing.is_usable() {
                return Ok(Fetched::AlreadyInstalled(existing));
            }
        }
        let url = match file.source {
            Source::Direct(url) => self.url_for(url),
            Source::ArchiveMember { url, member } => {
                return Err(Error::new(
                    ErrorCode::FailedPrecondition,
                    format!(
                        "{} is published inside the archive {url} (member {member}); download it, \
                         extract that member and copy it to {}",
                        file.path,
                        dest.display()
                    ),
                ));
            }
        };
        let parent = dest.parent().unwrap_or(dir);
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| io_error(parent, &e))?;
        let partial = Partial::new(parent, &dest);
        let digests = self.download(&url, dir, &partial.path).await?;
        let check = judge(file, &digests);
        if !check.is_usable() {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "downloaded {url} but it is not the expected file ({}); it was discarded",
                    check.describe(Path::new(file.path))
                ),
            ));
        }
        tokio::fs::rename(&partial.path, &dest)
            .await
            .map_err(|e| io_error(&dest, &e))?;
        partial.keep();
        Ok(Fetched::Downloaded {
            bytes: digests.size,
            check,
        })
    }

    async fn download(&self, url: &str, dir: &Path, to: &Path) -> Result<Digests> {
        let by_hand = || format!("copy the file into {} by hand", dir.display());
        let unreachable = |e: &reqwest::Error| {
            Error::new(
                ErrorCode::Unavailable,
                format!("cannot reach {url}: {}; {}", error_chain(e), by_hand()),
            )
        };
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::new(
                ErrorCode::Unavailable,
                format!("cannot download {url}: HTTP {status}; {}", by_hand()),
            ));
        }
        let mut out = tokio::fs::File::create(to)
            .await
            .map_err(|e| io_error(to, &e))?;
        let mut hasher = Hasher::default();
        while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(&e))? {
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(|e| io_error(to, &e))?;
        }
        out.sync_all().await.map_err(|e| io_error(to, &e))?;
        Ok(hasher.finish())
    }
}

/// A download in progress, removed unless it was moved into place.
struct Partial {
    path: PathBuf,
    kept: bool,
}

impl Partial {
    fn new(parent: &Path, dest: &Path) -> Partial {
        let name = dest
            .file_name()
            .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
        Partial {
            path: parent.join(format!(".{name}.{}.part", uuid::Uuid::new_v4().simple())),
            kept: false,
        }
    }

    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::new(
        ErrorCode::FailedPrecondition,
        format!("cannot write {}: {e}", path.display()),
    )
}

/// "error sending request: connection refused" rather than only the outermost layer.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    fn model_file(path: &'static str, content: &[u8], url: &'static str) -> ModelFile {
        ModelFile {
            path,
            sha256: Some(leak(hex::encode(Sha256::digest(content)))),
            md5: None,
            size: Some(content.len() as u64),
            source: Source::Direct(url),
        }
    }

    /// A loopback server that answers `/good.onnx` with `body` and anything else with 404.
    async fn serve(body: &'static [u8]) -> String {
        use axum::routing::get;
        let app = axum::Router::new().route("/good.onnx", get(move || async move { body }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    const BODY: &[u8] = b"not really an onnx model, but bytes with a known hash";

    #[tokio::test]
    async fn fetch_downloads_checks_and_installs_then_skips_the_next_time() {
        let base = serve(BODY).await;
        let dir = tempfile::tempdir().unwrap();
        let file = model_file(
            "nested/good.onnx",
            BODY,
            "https://example.invalid/releases/good.onnx",
        );
        let fetcher = Fetcher::new().unwrap().with_mirror(&base);
        let fetched = fetcher.fetch(dir.path(), &file).await.unwrap();
        assert_eq!(
            fetched,
            Fetched::Downloaded {
                bytes: BODY.len() as u64,
                check: Check::Verified
            }
        );
        assert_eq!(
            std::fs::read(dir.path().join("nested/good.onnx")).unwrap(),
            BODY
        );
        let again = fetcher.fetch(dir.path(), &file).await.unwrap();
        assert_eq!(again, Fetched::AlreadyInstalled(Check::Verified));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[tokio::test]
    async fn fetch_discards_a_download_with_the_wrong_hash() {
        let base = serve(BODY).await;
        let dir = tempfile::tempdir().unwrap();
        let file = model_file(
            "good.onnx",
            b"other bytes",
            "https://example.invalid/good.onnx",
        );
        let err = Fetcher::new()
            .unwrap()
            .with_mirror(&base)
            .fetch(dir.path(), &file)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::FailedPrecondition);
        assert!(err.message.contains("sha256 mismatch"), "{}", err.message);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing left behind"
        );
    }

    #[tokio::test]
    async fn fetch_replaces_a_corrupt_installed_file() {
        let base = serve(BODY).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.onnx"), b"truncated").unwrap();
        let file = model_file("good.onnx", BODY, "https://example.invalid/good.onnx");
        let fetcher = Fetcher::new().unwrap().with_mirror(&base);
        let fetched = fetcher.fetch(dir.path(), &file).await.unwrap();
        assert!(matches!(fetched, Fetched::Downloaded { .. }));
        assert_eq!(std::fs::read(dir.path().join("good.onnx")).unwrap(), BODY);
    }

    #[tokio::test]
    async fn fetch_offline_says_plainly_to_copy_the_file_by_hand() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let file = model_file("good.onnx", BODY, "https://example.invalid/good.onnx");
        let err = Fetcher::new()
            .unwrap()
            .with_mirror(format!("http://127.0.0.1:{port}"))
            .fetch(dir.path(), &file)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Unavailable);
        let expected_start = format!("cannot reach http://127.0.0.1:{port}/good.onnx: ");
        assert!(err.message.starts_with(&expected_start), "{}", err.message);
        assert!(
            err.message.ends_with(&format!(
                "copy the file into {} by hand",
                dir.path().display()
            )),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn fetch_reports_an_http_error_status() {
        let base = serve(BODY).await;
        let dir = tempfile::tempdir().unwrap();
        let file = model_file("missing.onnx", BODY, "https://example.invalid/missing.onnx");
        let err = Fetcher::new()
            .unwrap()
            .with_mirror(&base)
            .fetch(dir.path(), &file)
            .await
            .unwrap_err();
        assert!(err.message.contains("HTTP 404"), "{}", err.message);
        assert!(err.message.contains("by hand"), "{}", err.message);
    }

    #[tokio::test]
    async fn archive_members_are_not_downloaded_but_explained() {
        let dir = tempfile::tempdir().unwrap();
        let spec = crate::providers::local::models::registry::find("realesrgan-x4plus").unwrap();
        let err = Fetcher::new()
            .unwrap()
            .fetch(dir.path(), &spec.files[0])
            .await
            .unwrap_err();
        assert!(
            err.message.contains("models/realesrgan-x4plus.param"),
            "{}",
            err.message
        );
    }

    #[test]
    fn judge_prefers_sha256_then_falls_back_to_rembgs_md5() {
        let digests = Digests {
            sha256: hex::encode(Sha256::digest(BODY)),
            md5: hex::encode(Md5::digest(BODY)),
            size: BODY.len() as u64,
        };
        let mut file = model_file("x.onnx", BODY, "https://example.invalid/x.onnx");
        assert_eq!(judge(&file, &digests), Check::Verified);
        file.sha256 = None;
        file.md5 = Some(leak(digests.md5.clone()));
        assert!(matches!(
            judge(&file, &digests),
            Check::VerifiedByMd5 { .. }
        ));
        file.md5 = Some("00000000000000000000000000000000");
        assert!(judge(&file, &digests).is_failure());
        file.md5 = None;
        let unknown = judge(&file, &digests);
        assert!(unknown.is_usable() && !unknown.is_failure());
        assert!(
            unknown
                .describe(Path::new("x.onnx"))
                .contains("cannot verify")
        );
    }

    #[test]
    fn the_shared_u2netp_is_the_official_file() {
        let Some(dir) = crate::test_support::models_dir() else {
            return;
        };
        let dir = dir.as_path();
        let spec = crate::providers::local::models::registry::find("u2netp").unwrap();
        let file = spec.main_file();
        assert_eq!(verify_file(dir, file).unwrap(), Check::Verified);
        // rembg's md5 agrees with the registry's sha256 for the same bytes.
        let digests = digest_file(&dir.join(file.path)).unwrap();
        assert_eq!(Some(digests.md5.as_str()), file.md5);
        assert_eq!(Some(digests.size), file.size);
    }
}
