//! Blob storage (object_store: a local directory by default, or an S3-compatible bucket) and
//! expiring links to its objects.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use object_store::aws::AmazonS3;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{ObjectStore, PutPayload};

use crate::config::{BlobStoreKind, Settings};
use crate::error::{Error, ErrorCode, Result};
use crate::store::s3;
use crate::store::signing::UrlSigner;
use crate::store::sweeper;

/// A link to a stored object.
#[derive(Debug, Clone)]
pub struct SignedUrl {
    pub url: String,
    pub expires_at: SystemTime,
}

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    links: Links,
    /// Checks the bridge's `/blobs/` links; kept with every kind so forged links stay 404.
    signer: UrlSigner,
    /// Prepended to every key (`blob_store.s3.key_prefix`).
    prefix: String,
    ttl: Duration,
    /// How messages name this store: `s3 bucket `imgforge` at http://127.0.0.1:9000`.
    name: Arc<str>,
    /// Backstop deadline of one remote operation, retries included.
    deadline: Option<Duration>,
    /// How expired objects are removed.
    retention: Retention,
}

/// Who deletes expired objects.
#[derive(Clone)]
enum Retention {
    /// The sweeper walks this directory.
    Directory(std::path::PathBuf),
    /// The sweeper lists the store (process memory).
    Listing,
    /// The bucket's lifecycle rule (README, Blob store); imgforge still refuses expired
    /// links and uploads.
    Bucket,
}

/// Where the links handed out for stored objects point.
#[derive(Clone)]
enum Links {
    /// This server's `GET /blobs/<key>?expires=..&sig=..`, HMAC-signed.
    Bridge { base_url: String },
    /// SigV4-presigned GET URLs of the bucket itself (`X-Amz-Signature`, `X-Amz-Expires`).
    Presigned(Arc<AmazonS3>),
}

impl BlobStore {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let blob_store = &settings.blob_store;
        let signer = UrlSigner::new(settings.results.signing_key.expose());
        let bridge = |store: Arc<dyn ObjectStore>, name: String, retention| BlobStore {
            store,
            links: Links::Bridge {
                base_url: settings.public_base_url(),
            },
            signer: signer.clone(),
            prefix: String::new(),
            ttl: Duration::from_secs(settings.results.url_ttl_secs),
            name: name.into(),
            deadline: None,
            retention,
        };
        Ok(match blob_store.kind {
            BlobStoreKind::Local => {
                let path = &blob_store.path;
                std::fs::create_dir_all(path).map_err(|e| {
                    anyhow::anyhow!("cannot create blob directory {}: {e}", path.display())
                })?;
                bridge(
                    Arc::new(object_store::local::LocalFileSystem::new_with_prefix(path)?),
                    format!("local blob store at {}", path.display()),
                    Retention::Directory(path.clone()),
                )
            }
            BlobStoreKind::Memory => bridge(
                Arc::new(object_store::memory::InMemory::new()),
                "memory blob store".to_owned(),
                Retention::Listing,
            ),
            BlobStoreKind::S3 => {
                let s3_settings = &blob_store.s3;
                s3_settings.validate()?;
                let bucket = s3::build(s3_settings)?;
                BlobStore {
                    store: bucket.clone(),
                    links: Links::Presigned(bucket),
                    signer: signer.clone(),
                    prefix: s3_settings.key_prefix().to_owned(),
                    ttl: Duration::from_secs(s3_settings.presigned_url_ttl_secs),
                    name: s3_settings.describe().into(),
                    deadline: Some(s3::operation_deadline(s3_settings)),
                    retention: Retention::Bucket,
                }
            }
        })
    }

    /// The object path of `key`, under the configured prefix.
    fn path(&self, key: &str) -> Result<ObjectPath> {
        let full = if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        };
        ObjectPath::parse(full).map_err(|e| Error::invalid("key", format!("bad blob key: {e}")))
    }

    fn is_remote(&self) -> bool {
        matches!(self.links, Links::Presigned(_))
    }

    /// Runs one store operation under the backstop deadline, naming the store, the action
    /// and the key in its error.
    async fn run<T>(
        &self,
        action: &str,
        key: &str,
        operation: impl Future<Output = object_store::Result<T>>,
    ) -> Result<T> {
        let outcome = match self.deadline {
            Some(deadline) => tokio::time::timeout(deadline, operation)
                .await
                .map_err(|_| s3::deadline_error(&self.name, action, key, deadline))?,
            None => operation.await,
        };
        outcome.map_err(|e| self.error(action, key, &e))
    }

    fn error(&self, action: &str, key: &str, error: &object_store::Error) -> Error {
        if self.is_remote() {
            return s3::to_error(&self.name, action, key, error);
        }
        if matches!(error, object_store::Error::NotFound { .. }) {
            Error::new(ErrorCode::NotFound, format!("{key} does not exist"))
        } else {
            Error::internal(format!("{}: cannot {action} {key}: {error}", self.name))
        }
    }

    /// Writes `bytes` under `key`. The local store writes a temporary file and renames it, and
    /// an S3 PUT is atomic, so a reader never sees half an object.
    #[tracing::instrument(skip_all, fields(key = %key, bytes = bytes.len()))]
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        let path = self.path(key)?;
        self.run(
            "store",
            key,
            self.store.put(&path, PutPayload::from_bytes(bytes)),
        )
        .await?;
        Ok(())
    }

    /// Deletes `key`; an absent key is not an error.
    #[tracing::instrument(skip_all, fields(key = %key))]
    pub async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match self.run("delete", key, self.store.delete(&path)).await {
            Ok(()) => Ok(()),
            Err(e) if e.code == ErrorCode::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    #[tracing::instrument(skip_all, fields(key = %key))]
    pub async fn get(&self, key: &str) -> Result<Bytes> {
        let path = self.path(key)?;
        self.run("read", key, async {
            self.store.get(&path).await?.bytes().await
        })
        .await
    }

    pub async fn exists(&self, key: &str) -> Result<bool> {
        let path = self.path(key)?;
        match self.run("look up", key, self.store.head(&path)).await {
            Ok(_) => Ok(true),
            Err(e) if e.code == ErrorCode::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// When `key` expires: its write time plus the TTL. `None` when it does not exist.
    pub async fn expires_at(&self, key: &str) -> Result<Option<SystemTime>> {
        let path = self.path(key)?;
        match self.run("look up", key, self.store.head(&path)).await {
            Ok(meta) => Ok(Some(SystemTime::from(meta.last_modified) + self.ttl)),
            Err(e) if e.code == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// How long `key` has left; `None` when it does not exist or its time is up (the
    /// sweeper may not have come by yet, but it is as good as gone).
    pub async fn remaining_life(&self, key: &str) -> Result<Option<Duration>> {
        Ok(self
            .expires_at(key)
            .await?
            .and_then(|at| at.duration_since(SystemTime::now()).ok())
            .filter(|left| !left.is_zero()))
    }

    /// Reads `key` unless its time is up: an expired object is NotFound even before the
    /// sweeper removes it.
    pub async fn get_live(&self, key: &str) -> Result<Bytes> {
        if self.remaining_life(key).await?.is_none() {
            return Err(Error::new(
                ErrorCode::NotFound,
                format!("{key} does not exist or has expired"),
            ));
        }
        self.get(key).await
    }

    /// A link to `key` living the configured TTL: a presigned GET URL of the bucket for the
    /// S3 store, else the bridge's `GET /blobs/<key>?expires=..&sig=..`.
    pub async fn signed_url(&self, key: &str) -> Result<SignedUrl> {
        self.signed_url_for(key, self.ttl).await
    }

    /// A link to an object stored earlier, expiring when the object does; `None` when the
    /// object is gone or expired.
    pub async fn link_to_stored(&self, key: &str) -> Result<Option<SignedUrl>> {
        match self.remaining_life(key).await? {
            // Links count whole seconds; less than one left is as good as expired.
            Some(left) if left >= Duration::from_secs(1) => {
                let whole = Duration::from_secs(left.as_secs());
                self.signed_url_for(key, whole).await.map(Some)
            }
            Some(_) | None => Ok(None),
        }
    }

    async fn signed_url_for(&self, key: &str, ttl: Duration) -> Result<SignedUrl> {
        let expires_at = SystemTime::now() + ttl;
        match &self.links {
            Links::Presigned(bucket) => {
                let path = self.path(key)?;
                let url = self
                    .run(
                        "sign a link to",
                        key,
                        bucket.signed_url(http::Method::GET, &path, ttl),
                    )
                    .await?;
                Ok(SignedUrl {
                    url: url.into(),
                    expires_at,
                })
            }
            Links::Bridge { base_url } => {
                let (signature, expires) = self.signer.sign(key, ttl);
                Ok(SignedUrl {
                    url: format!("{base_url}/blobs/{key}?expires={expires}&sig={signature}"),
                    expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(expires),
                })
            }
        }
    }

    /// Checks a bridge link. The S3 store hands out presigned bucket URLs instead, so a
    /// bridge link can only be forged there and is refused like any forgery.
    pub fn verify(&self, key: &str, expires: u64, signature: &str) -> Result<()> {
        self.signer.verify(key, expires, signature)
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether [`BlobStore::sweep`] deletes anything (not for S3: the bucket's lifecycle rule
    /// does).
    pub fn sweeps(&self) -> bool {
        !matches!(self.retention, Retention::Bucket)
    }

    /// Deletes every object whose time is up; returns how many.
    pub async fn sweep(&self) -> Result<usize> {
        let now = SystemTime::now();
        match &self.retention {
            Retention::Directory(root) => {
                let (root, ttl) = (root.clone(), self.ttl);
                tokio::task::spawn_blocking(move || sweeper::sweep_dir(&root, ttl, now))
                    .await
                    .map_err(|e| Error::internal(format!("blob sweep panicked: {e}")))?
                    .map_err(|e| Error::internal(format!("{}: cannot sweep: {e}", self.name)))
            }
            Retention::Listing => {
                use futures::TryStreamExt;
                let expired: Vec<ObjectPath> = self
                    .store
                    .list(None)
                    .try_filter(|meta| {
                        let due = SystemTime::from(meta.last_modified) + self.ttl <= now;
                        std::future::ready(due)
                    })
                    .map_ok(|meta| meta.location)
                    .try_collect()
                    .await
                    .map_err(|e| self.error("list", "", &e))?;
                let mut deleted = 0;
                for path in expired {
                    match self.store.delete(&path).await {
                        Ok(()) => deleted += 1,
                        Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(self.error("delete", path.as_ref(), &e)),
                    }
                }
                Ok(deleted)
            }
            Retention::Bucket => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Addressing, BlobStoreSettings, S3Settings, Secret};

    fn store(s3: S3Settings) -> BlobStore {
        let mut settings = Settings::embedded();
        settings.blob_store = BlobStoreSettings::s3(s3);
        BlobStore::from_settings(&settings).unwrap()
    }

    fn minio() -> S3Settings {
        S3Settings {
            endpoint: "http://127.0.0.1:9000".into(),
            bucket: "imgforge".into(),
            access_key_id: "minioadmin".into(),
            secret_access_key: Secret::new("minio-secret"),
            key_prefix: "/prod/".into(),
            presigned_url_ttl_secs: 900,
            ..S3Settings::default()
        }
    }

    #[tokio::test]
    async fn s3_links_are_presigned_get_urls_under_the_key_prefix() {
        let link = store(minio()).signed_url("results/a.png").await.unwrap();
        let url = url::Url::parse(&link.url).unwrap();
        assert_eq!(url.path(), "/imgforge/prod/results/a.png");
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(query["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(query["X-Amz-Expires"], "900");
        assert_eq!(query["X-Amz-SignedHeaders"], "host");
        assert!(query["X-Amz-Credential"].starts_with("minioadmin/"));
        assert!(query["X-Amz-Credential"].ends_with("/us-east-1/s3/aws4_request"));
        assert_eq!(query["X-Amz-Signature"].len(), 64);
        assert!(!link.url.contains("minio-secret"));
        let lives = link.expires_at.duration_since(SystemTime::now()).unwrap();
        assert!(lives <= Duration::from_secs(900) && lives > Duration::from_secs(890));
    }

    #[tokio::test]
    async fn oss_links_use_the_buckets_own_host() {
        let oss = S3Settings {
            endpoint: "https://s3.oss-cn-beijing.aliyuncs.com".into(),
            region: "cn-beijing".into(),
            bucket: "my-images".into(),
            addressing: Addressing::VirtualHosted,
            key_prefix: String::new(),
            ..minio()
        };
        let link = store(oss).signed_url("uploads/x").await.unwrap();
        assert!(
            link.url
                .starts_with("https://my-images.s3.oss-cn-beijing.aliyuncs.com/uploads/x?"),
            "{}",
            link.url
        );
        assert!(
            link.url.contains("%2Fcn-beijing%2Fs3%2Faws4_request"),
            "{}",
            link.url
        );
    }

    #[tokio::test]
    async fn local_links_point_at_the_bridge_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::embedded();
        settings.blob_store = BlobStoreSettings::local(dir.path());
        settings.results.public_base_url = "https://img.example.com/".into();
        let blobs = BlobStore::from_settings(&settings).unwrap();
        blobs
            .put("results/a.png", Bytes::from_static(b"png"))
            .await
            .unwrap();
        assert!(blobs.exists("results/a.png").await.unwrap());
        assert!(!blobs.exists("results/b.png").await.unwrap());
        let link = blobs.signed_url("results/a.png").await.unwrap();
        let url = url::Url::parse(&link.url).unwrap();
        assert!(
            link.url
                .starts_with("https://img.example.com/blobs/results/a.png?")
        );
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        blobs
            .verify(
                "results/a.png",
                query["expires"].parse().unwrap(),
                &query["sig"],
            )
            .unwrap();
        assert_eq!(blobs.get("results/a.png").await.unwrap(), "png");
        let missing = blobs.get("results/b.png").await.unwrap_err();
        assert_eq!(missing.code, ErrorCode::NotFound);
    }
}
