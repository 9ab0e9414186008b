//! Blob storage (object_store: local filesystem by default) and signed links to its objects.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use crate::config::{BlobStoreSettings, Settings};
use crate::error::{Error, ErrorCode, Result};
use crate::store::signing::UrlSigner;

/// A link to a stored object.
#[derive(Debug, Clone)]
pub struct SignedUrl {
    pub url: String,
    pub expires_at: SystemTime,
}

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    signer: UrlSigner,
    base_url: String,
    ttl: Duration,
}

impl BlobStore {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let store: Arc<dyn ObjectStore> = match &settings.blob_store {
            BlobStoreSettings::Local { path } => {
                std::fs::create_dir_all(path).map_err(|e| {
                    anyhow::anyhow!("cannot create blob directory {}: {e}", path.display())
                })?;
                Arc::new(object_store::local::LocalFileSystem::new_with_prefix(path)?)
            }
            BlobStoreSettings::Memory => Arc::new(object_store::memory::InMemory::new()),
        };
        Ok(BlobStore {
            store,
            signer: UrlSigner::new(settings.results.signing_key.expose()),
            base_url: settings.public_base_url(),
            ttl: Duration::from_secs(settings.results.url_ttl_secs),
        })
    }

    fn path(key: &str) -> Result<ObjectPath> {
        ObjectPath::parse(key).map_err(|e| Error::invalid("key", format!("bad blob key: {e}")))
    }

    /// Writes `bytes` under `key`; the local store writes a temporary file and renames it, so
    /// a reader never sees half an object.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.store
            .put(&Self::path(key)?, PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| Error::internal(format!("cannot store {key}: {e}")))?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Bytes> {
        let result = self.store.get(&Self::path(key)?).await.map_err(|e| {
            if matches!(e, object_store::Error::NotFound { .. }) {
                Error::new(ErrorCode::NotFound, format!("{key} does not exist"))
            } else {
                Error::internal(format!("cannot read {key}: {e}"))
            }
        })?;
        result
            .bytes()
            .await
            .map_err(|e| Error::internal(format!("cannot read {key}: {e}")))
    }

    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.store.head(&Self::path(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(Error::internal(format!("cannot look up {key}: {e}"))),
        }
    }

    /// A link the bridge serves (`GET /blobs/<key>?expires=..&sig=..`) until the TTL passes.
    pub fn signed_url(&self, key: &str) -> SignedUrl {
        let (signature, expires) = self.signer.sign(key, self.ttl);
        SignedUrl {
            url: format!(
                "{}/blobs/{key}?expires={expires}&sig={signature}",
                self.base_url
            ),
            expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(expires),
        }
    }

    pub fn verify(&self, key: &str, expires: u64, signature: &str) -> Result<()> {
        self.signer.verify(key, expires, signature)
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}
