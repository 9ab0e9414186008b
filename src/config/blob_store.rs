//! `[blob_store]`: where results, uploads and provider inputs are kept: a local directory
//! (the embedded default), process memory, or an S3-compatible bucket (Alibaba OSS, MinIO,
//! AWS S3).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Secret;

/// The longest a SigV4 presigned URL may live (seven days).
pub const MAX_PRESIGNED_URL_TTL_SECS: u64 = 7 * 24 * 3600;

/// One flat section rather than an enum per kind, so that layers (embedded defaults → file →
/// environment) can switch `kind` without the other kinds' keys becoming unknown fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobStoreSettings {
    pub kind: BlobStoreKind,
    /// Directory of the `local` store.
    #[serde(default = "default_path")]
    pub path: PathBuf,
    /// The bucket of the `s3` store.
    #[serde(default)]
    pub s3: S3Settings,
    /// How often the sweeper deletes expired blobs of the `local` and `memory` stores (it
    /// also runs once at start). The `s3` store relies on the bucket's lifecycle rule.
    #[serde(default = "default_sweep_interval_secs")]
    pub sweep_interval_secs: u64,
}

fn default_sweep_interval_secs() -> u64 {
    60
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobStoreKind {
    /// A directory on the local filesystem; links point at this server's `/blobs/` route.
    Local,
    /// Process memory; for tests and throw-away runs.
    Memory,
    /// An S3-compatible bucket; links are presigned GET URLs of the bucket itself.
    S3,
}

fn default_path() -> PathBuf {
    PathBuf::from("data/blobs")
}

impl BlobStoreSettings {
    pub fn local(path: impl Into<PathBuf>) -> Self {
        BlobStoreSettings {
            kind: BlobStoreKind::Local,
            path: path.into(),
            s3: S3Settings::default(),
            sweep_interval_secs: default_sweep_interval_secs(),
        }
    }

    pub fn memory() -> Self {
        BlobStoreSettings {
            kind: BlobStoreKind::Memory,
            path: default_path(),
            s3: S3Settings::default(),
            sweep_interval_secs: default_sweep_interval_secs(),
        }
    }

    pub fn s3(s3: S3Settings) -> Self {
        BlobStoreSettings {
            kind: BlobStoreKind::S3,
            path: default_path(),
            s3,
            sweep_interval_secs: default_sweep_interval_secs(),
        }
    }

    /// Checks the settings of the configured kind only: an unused `[blob_store.s3]` may stay
    /// empty.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.sweep_interval_secs == 0 {
            anyhow::bail!("blob_store.sweep_interval_secs must be positive");
        }
        match self.kind {
            BlobStoreKind::Local => {
                if self.path.as_os_str().is_empty() {
                    anyhow::bail!("blob_store.path: the local store needs a directory");
                }
                Ok(())
            }
            BlobStoreKind::Memory => Ok(()),
            BlobStoreKind::S3 => self.s3.validate(),
        }
    }
}

impl Default for BlobStoreSettings {
    fn default() -> Self {
        BlobStoreSettings::local(default_path())
    }
}

/// How the bucket appears in URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Addressing {
    /// `https://<endpoint>/<bucket>/<key>`: MinIO and most self-hosted stores.
    Path,
    /// `https://<bucket>.<endpoint host>/<key>`: AWS S3 and Alibaba OSS (which accepts only
    /// this style).
    VirtualHosted,
}

/// `[blob_store.s3]`: an S3-compatible bucket reached with SigV4 (`object_store`'s
/// `AmazonS3`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// Service endpoint without the bucket: `https://s3.oss-cn-beijing.aliyuncs.com` (OSS),
    /// `http://127.0.0.1:9000` (MinIO). Empty = AWS's endpoint of `region`. `http://` is
    /// accepted because the operator wrote it; keys still never travel (SigV4 signs, it does
    /// not send the secret), but object bytes do.
    pub endpoint: String,
    /// Signing region: `us-east-1` for MinIO, `cn-beijing` for OSS in Beijing.
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    /// Prefer `IMGFORGE__BLOB_STORE__S3__SECRET_ACCESS_KEY` to writing it in a file.
    pub secret_access_key: Secret,
    /// STS token of temporary credentials; empty for long-lived keys.
    pub session_token: Secret,
    pub addressing: Addressing,
    /// Prepended to every key (`imgforge/results/...`), so one bucket can serve several
    /// deployments.
    pub key_prefix: String,
    /// Lifetime of the presigned GET URLs handed out for results, uploads and provider inputs
    /// (at most seven days, SigV4's limit).
    pub presigned_url_ttl_secs: u64,
    /// Deadline of one HTTP request to the bucket, body included.
    pub request_timeout_secs: u64,
    pub connect_timeout_secs: u64,
    /// Retries of a request failing with a 5xx, 429, timeout or connection error.
    pub max_retries: usize,
    /// No retry starts once this long has passed since the first attempt.
    pub retry_timeout_secs: u64,
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            endpoint: String::new(),
            region: "us-east-1".into(),
            bucket: String::new(),
            access_key_id: String::new(),
            secret_access_key: Secret::default(),
            session_token: Secret::default(),
            addressing: Addressing::Path,
            key_prefix: String::new(),
            presigned_url_ttl_secs: 1800,
            request_timeout_secs: 30,
            connect_timeout_secs: 5,
            max_retries: 3,
            retry_timeout_secs: 30,
        }
    }
}

impl S3Settings {
    pub fn validate(&self) -> anyhow::Result<()> {
        validate_bucket_name(&self.bucket)?;
        if self.region.trim().is_empty() {
            anyhow::bail!(
                "blob_store.s3.region: the signing region is required (us-east-1 for MinIO, \
                 cn-beijing for OSS in Beijing)"
            );
        }
        match (
            self.access_key_id.is_empty(),
            self.secret_access_key.is_empty(),
        ) {
            (false, false) => {}
            (true, true) => anyhow::bail!(
                "blob_store.s3.access_key_id and blob_store.s3.secret_access_key are required"
            ),
            (true, false) => {
                anyhow::bail!("blob_store.s3.access_key_id is empty but a secret_access_key is set")
            }
            (false, true) => anyhow::bail!(
                "blob_store.s3.secret_access_key is empty (set \
                 IMGFORGE__BLOB_STORE__S3__SECRET_ACCESS_KEY)"
            ),
        }
        if !self.endpoint.is_empty() {
            let url = self.endpoint_url()?;
            if self.addressing == Addressing::VirtualHosted
                && matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)))
            {
                anyhow::bail!(
                    "blob_store.s3.addressing: virtual_hosted puts the bucket in the host name, \
                     which an IP endpoint ({}) cannot carry; use addressing = \"path\"",
                    self.endpoint
                );
            }
        }
        if !(1..=MAX_PRESIGNED_URL_TTL_SECS).contains(&self.presigned_url_ttl_secs) {
            anyhow::bail!(
                "blob_store.s3.presigned_url_ttl_secs must be within 1..={MAX_PRESIGNED_URL_TTL_SECS} \
                 (SigV4 presigned URLs live at most seven days), got {}",
                self.presigned_url_ttl_secs
            );
        }
        if self.request_timeout_secs == 0 || self.connect_timeout_secs == 0 {
            anyhow::bail!(
                "blob_store.s3.request_timeout_secs and connect_timeout_secs must be positive"
            );
        }
        if self.key_prefix().split('/').any(|s| s == "." || s == "..") {
            anyhow::bail!(
                "blob_store.s3.key_prefix: {:?} must not contain . or .. segments",
                self.key_prefix
            );
        }
        Ok(())
    }

    fn endpoint_url(&self) -> anyhow::Result<url::Url> {
        let url = url::Url::parse(&self.endpoint).map_err(|e| {
            anyhow::anyhow!(
                "blob_store.s3.endpoint: {:?} is not a URL: {e}",
                self.endpoint
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            anyhow::bail!(
                "blob_store.s3.endpoint: {:?} must be an http(s) URL with a host",
                self.endpoint
            );
        }
        if url.query().is_some() || url.fragment().is_some() {
            anyhow::bail!(
                "blob_store.s3.endpoint: {:?} must carry no query or fragment",
                self.endpoint
            );
        }
        if !url.username().is_empty() || url.password().is_some() {
            // Not echoed: it holds a credential.
            anyhow::bail!(
                "blob_store.s3.endpoint must carry no credentials; use access_key_id and \
                 secret_access_key"
            );
        }
        Ok(url)
    }

    /// The key prefix without leading or trailing slashes (empty = none).
    pub fn key_prefix(&self) -> &str {
        self.key_prefix.trim_matches('/')
    }

    /// Whether requests may go over plain HTTP (an `http://` endpoint).
    pub fn allows_http(&self) -> bool {
        self.endpoint.starts_with("http://")
    }

    /// The URL `object_store` is given as its endpoint: the service endpoint for path-style
    /// addressing, the bucket's own host for virtual-hosted addressing; `None` leaves AWS's
    /// regional endpoint.
    pub fn client_endpoint(&self) -> Option<String> {
        if self.endpoint.is_empty() {
            return None;
        }
        let endpoint = self.endpoint.trim_end_matches('/');
        match self.addressing {
            Addressing::Path => Some(endpoint.to_owned()),
            Addressing::VirtualHosted => {
                let Ok(mut url) = url::Url::parse(endpoint) else {
                    return Some(endpoint.to_owned());
                };
                let host = url.host_str().unwrap_or_default().to_owned();
                // Accept an endpoint already naming the bucket.
                if !host.starts_with(&format!("{}.", self.bucket)) {
                    let _ = url.set_host(Some(&format!("{}.{host}", self.bucket)));
                }
                Some(url.as_str().trim_end_matches('/').to_owned())
            }
        }
    }

    /// The bucket as messages name it: `imgforge at http://127.0.0.1:9000`.
    pub fn describe(&self) -> String {
        let at = if self.endpoint.is_empty() {
            format!("AWS {}", self.region)
        } else {
            self.endpoint.trim_end_matches('/').to_owned()
        };
        format!("s3 bucket `{}` at {at}", self.bucket)
    }
}

/// S3's bucket naming rules, which OSS and MinIO share: 3–63 characters of lowercase
/// letters, digits, `-` and `.`, starting and ending with a letter or digit.
fn validate_bucket_name(bucket: &str) -> anyhow::Result<()> {
    if bucket.is_empty() {
        anyhow::bail!("blob_store.s3.bucket: a bucket name is required when kind = \"s3\"");
    }
    let valid_chars = bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let alnum = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(3..=63).contains(&bucket.len())
        || !valid_chars
        || !alnum(bucket.as_bytes().first())
        || !alnum(bucket.as_bytes().last())
        || bucket.contains("..")
    {
        anyhow::bail!(
            "blob_store.s3.bucket: {bucket:?} is not a valid bucket name (3-63 lowercase \
             letters, digits, '-' or '.', starting and ending with a letter or digit)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minio() -> S3Settings {
        S3Settings {
            endpoint: "http://127.0.0.1:9000".into(),
            bucket: "imgforge".into(),
            access_key_id: "minioadmin".into(),
            secret_access_key: Secret::new("minio-secret"),
            ..S3Settings::default()
        }
    }

    fn oss() -> S3Settings {
        S3Settings {
            endpoint: "https://s3.oss-cn-beijing.aliyuncs.com".into(),
            region: "cn-beijing".into(),
            bucket: "my-images".into(),
            access_key_id: "LTAI5t".into(),
            secret_access_key: Secret::new("oss-secret"),
            addressing: Addressing::VirtualHosted,
            ..S3Settings::default()
        }
    }

    fn error_of(settings: S3Settings) -> String {
        settings.validate().unwrap_err().to_string()
    }

    #[test]
    fn minio_and_oss_examples_are_valid() {
        minio().validate().unwrap();
        oss().validate().unwrap();
    }

    #[test]
    fn path_style_keeps_the_endpoint_and_virtual_hosted_puts_the_bucket_in_the_host() {
        assert_eq!(
            minio().client_endpoint().as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            oss().client_endpoint().as_deref(),
            Some("https://my-images.s3.oss-cn-beijing.aliyuncs.com")
        );
        let named = S3Settings {
            endpoint: "https://my-images.s3.oss-cn-beijing.aliyuncs.com/".into(),
            ..oss()
        };
        assert_eq!(
            named.client_endpoint().as_deref(),
            Some("https://my-images.s3.oss-cn-beijing.aliyuncs.com")
        );
        let aws = S3Settings {
            endpoint: String::new(),
            ..oss()
        };
        assert_eq!(aws.client_endpoint(), None);
        assert!(minio().allows_http());
        assert!(!oss().allows_http());
    }

    #[test]
    fn a_bucket_is_required_and_must_be_well_named() {
        let missing = error_of(S3Settings {
            bucket: String::new(),
            ..minio()
        });
        assert!(missing.contains("blob_store.s3.bucket"), "{missing}");
        for bad in ["ab", "Images", "my_images", "-images", "images-", "a..b"] {
            let err = error_of(S3Settings {
                bucket: bad.into(),
                ..minio()
            });
            assert!(err.contains("not a valid bucket name"), "{bad}: {err}");
        }
    }

    #[test]
    fn both_keys_are_required_and_each_missing_one_is_named() {
        let none = error_of(S3Settings {
            access_key_id: String::new(),
            secret_access_key: Secret::default(),
            ..minio()
        });
        assert!(none.contains("are required"), "{none}");
        let no_secret = error_of(S3Settings {
            secret_access_key: Secret::default(),
            ..minio()
        });
        assert!(
            no_secret.contains("secret_access_key is empty"),
            "{no_secret}"
        );
        let no_id = error_of(S3Settings {
            access_key_id: String::new(),
            ..minio()
        });
        assert!(no_id.contains("access_key_id is empty"), "{no_id}");
    }

    #[test]
    fn endpoints_must_be_plain_http_urls() {
        for bad in [
            "s3.example.com",
            "ftp://s3.example.com",
            "https://s3.example.com?x=1",
            "https://user:pw@s3.example.com",
        ] {
            let err = error_of(S3Settings {
                endpoint: bad.into(),
                ..minio()
            });
            assert!(err.contains("blob_store.s3.endpoint"), "{bad}: {err}");
            assert!(!err.contains("pw@"), "credentials echoed: {err}");
        }
    }

    #[test]
    fn virtual_hosted_addressing_needs_a_host_name() {
        let err = error_of(S3Settings {
            addressing: Addressing::VirtualHosted,
            ..minio()
        });
        assert!(err.contains("addressing = \"path\""), "{err}");
    }

    #[test]
    fn presigned_urls_live_between_a_second_and_seven_days() {
        for ttl in [0, MAX_PRESIGNED_URL_TTL_SECS + 1] {
            let err = error_of(S3Settings {
                presigned_url_ttl_secs: ttl,
                ..minio()
            });
            assert!(err.contains("presigned_url_ttl_secs"), "{err}");
        }
        S3Settings {
            presigned_url_ttl_secs: MAX_PRESIGNED_URL_TTL_SECS,
            ..minio()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn key_prefix_is_trimmed_and_must_not_climb() {
        let prefixed = S3Settings {
            key_prefix: "/imgforge/prod/".into(),
            ..minio()
        };
        assert_eq!(prefixed.key_prefix(), "imgforge/prod");
        let err = error_of(S3Settings {
            key_prefix: "a/../b".into(),
            ..minio()
        });
        assert!(err.contains("key_prefix"), "{err}");
    }

    #[test]
    fn the_secrets_never_reach_debug_output() {
        let settings = S3Settings {
            session_token: Secret::new("sts-token"),
            ..oss()
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("oss-secret"), "{printed}");
        assert!(!printed.contains("sts-token"), "{printed}");
        assert!(printed.contains("LTAI5t"));
    }

    #[test]
    fn an_unused_s3_section_is_not_checked() {
        BlobStoreSettings::local("data/blobs").validate().unwrap();
        BlobStoreSettings::memory().validate().unwrap();
        assert!(
            BlobStoreSettings::s3(S3Settings::default())
                .validate()
                .is_err()
        );
    }
}
