//! [`StateStore`] on sqlx's `Any` driver: one set of portable queries (numbered `$n`
//! placeholders, BIGINT milliseconds, `ON CONFLICT`) that SQLite and PostgreSQL both run, so
//! the two engines cannot drift apart in behaviour.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, Row};

use super::clock::{from_millis, to_millis};
use super::{Clock, CoverRecord, CoverStatus, ReferenceImage, StateStore, SweepReport};
use crate::config::StateSettings;
use crate::error::{Error, ErrorCode, Result};

/// Applied in order at start-up; a new table (portrait tasks, leases, callbacks) is a new
/// entry, never an edit of an applied one (sqlx refuses a changed checksum).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "covers, reference images, request nonces",
        include_str!("migrations/0001_covers_references_nonces.sql"),
    ),
    (
        2,
        "portrait uploads, user models, tasks, callbacks",
        include_str!("migrations/0002_portraits.sql"),
    ),
    (
        3,
        "callback attempt history, disabled callback endpoints",
        include_str!("migrations/0003_callback_history.sql"),
    ),
];

#[derive(Debug)]
pub struct SqlStateStore {
    pool: AnyPool,
    backend: &'static str,
    clock: Arc<dyn Clock>,
}

pub(super) fn unavailable(what: &str, err: sqlx::Error) -> Error {
    Error::new(
        ErrorCode::Unavailable,
        format!("state store: {what}: {err}"),
    )
    .retryable(true)
}

fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    // `migrate!()` would need sqlx's proc macros (and their second copy of every driver) only
    // to build this same value from files.
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

impl SqlStateStore {
    pub async fn open(settings: &StateSettings, clock: Arc<dyn Clock>) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (url, backend) = if settings.url.is_empty() {
            (sqlite_url(&settings.data_dir)?, "sqlite")
        } else if settings.url.starts_with("postgres://")
            || settings.url.starts_with("postgresql://")
        {
            (settings.url.clone(), "postgres")
        } else if settings.url.starts_with("sqlite:") {
            (settings.url.clone(), "sqlite")
        } else {
            return Err(Error::invalid(
                "state.url",
                format!(
                    "state.url must start with postgres:// or sqlite: (got {})",
                    crate::redact::url(&settings.url)
                ),
            ));
        };
        let sqlite = backend == "sqlite";
        let pool = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(Duration::from_secs(settings.connect_timeout_secs))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // WAL lets readers run beside the one writer; NORMAL syncs at
                        // checkpoints, which WAL keeps crash-safe (a power cut may lose the
                        // last commits, never corrupt the file).
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|e| unavailable("cannot connect", e))?;
        migrator()
            .run(&pool)
            .await
            .map_err(|e| Error::internal(format!("state store: migrations failed: {e}")))?;
        tracing::info!(backend, "state store ready");
        Ok(SqlStateStore {
            pool,
            backend,
            clock,
        })
    }

    pub(super) fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    pub(super) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(super) fn backend_name(&self) -> &'static str {
        self.backend
    }
}

/// The embedded default: `<data_dir>/state.sqlite`, the folder and file created on first start.
fn sqlite_url(data_dir: &Path) -> Result<String> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        Error::internal(format!(
            "state store: cannot create the data directory {}: {e}",
            data_dir.display()
        ))
    })?;
    let file = data_dir.join("state.sqlite");
    Ok(format!("sqlite://{}?mode=rwc", file.display()))
}

fn cover_from_row(row: &AnyRow) -> Result<CoverRecord> {
    let decode = |e: sqlx::Error| Error::internal(format!("state store: bad cover row: {e}"));
    Ok(CoverRecord {
        id: row.try_get("id").map_err(decode)?,
        owner_key: row.try_get("owner_key").map_err(decode)?,
        status: CoverStatus::parse(&row.try_get::<String, _>("status").map_err(decode)?)?,
        result_blob: row.try_get("result_blob").map_err(decode)?,
        created_at: from_millis(row.try_get("created_at").map_err(decode)?),
        expires_at: from_millis(row.try_get("expires_at").map_err(decode)?),
    })
}

fn reference_from_row(row: &AnyRow) -> Result<ReferenceImage> {
    let decode = |e: sqlx::Error| Error::internal(format!("state store: bad reference row: {e}"));
    Ok(ReferenceImage {
        id: row.try_get("id").map_err(decode)?,
        owner_key: row.try_get("owner_key").map_err(decode)?,
        blob_key: row.try_get("blob_key").map_err(decode)?,
        created_at: from_millis(row.try_get("created_at").map_err(decode)?),
        expires_at: from_millis(row.try_get("expires_at").map_err(decode)?),
    })
}

#[async_trait]
impl StateStore for SqlStateStore {
    fn backend(&self) -> &'static str {
        self.backend
    }

    fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    async fn insert_cover(&self, cover: &CoverRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO covers (id, owner_key, status, result_blob, created_at, updated_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&cover.id)
        .bind(&cover.owner_key)
        .bind(cover.status.as_str())
        .bind(cover.result_blob.as_deref())
        .bind(to_millis(cover.created_at))
        .bind(self.now())
        .bind(to_millis(cover.expires_at))
        .execute(&self.pool)
        .await
        .map_err(|e| unavailable("insert cover", e))?;
        Ok(())
    }

    async fn update_cover(
        &self,
        owner_key: &str,
        id: &str,
        status: CoverStatus,
        result_blob: Option<&str>,
    ) -> Result<bool> {
        let now = self.now();
        let done = sqlx::query(
            "UPDATE covers SET status = $1, result_blob = COALESCE($2, result_blob), updated_at = $3 \
             WHERE id = $4 AND owner_key = $5 AND expires_at > $3",
        )
        .bind(status.as_str())
        .bind(result_blob)
        .bind(now)
        .bind(id)
        .bind(owner_key)
        .execute(&self.pool)
        .await
        .map_err(|e| unavailable("update cover", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn cover(&self, owner_key: &str, id: &str) -> Result<Option<CoverRecord>> {
        let row = sqlx::query(
            "SELECT id, owner_key, status, result_blob, created_at, expires_at FROM covers \
             WHERE id = $1 AND owner_key = $2 AND expires_at > $3",
        )
        .bind(id)
        .bind(owner_key)
        .bind(self.now())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| unavailable("read cover", e))?;
        row.as_ref().map(cover_from_row).transpose()
    }

    async fn insert_reference_image(&self, image: &ReferenceImage) -> Result<()> {
        sqlx::query(
            "INSERT INTO reference_images (id, owner_key, blob_key, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&image.id)
        .bind(&image.owner_key)
        .bind(&image.blob_key)
        .bind(to_millis(image.created_at))
        .bind(to_millis(image.expires_at))
        .execute(&self.pool)
        .await
        .map_err(|e| unavailable("insert reference image", e))?;
        Ok(())
    }

    async fn reference_image(&self, owner_key: &str, id: &str) -> Result<Option<ReferenceImage>> {
        let row = sqlx::query(
            "SELECT id, owner_key, blob_key, created_at, expires_at FROM reference_images \
             WHERE id = $1 AND owner_key = $2 AND expires_at > $3",
        )
        .bind(id)
        .bind(owner_key)
        .bind(self.now())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| unavailable("read reference image", e))?;
        row.as_ref().map(reference_from_row).transpose()
    }

    async fn claim_nonce(&self, key_id: &str, nonce: &str, expires_at: SystemTime) -> Result<bool> {
        // One statement, so two replicas racing on the same nonce cannot both win: the
        // primary key lets one insert, and an expired leftover is taken over in place.
        let done = sqlx::query(
            "INSERT INTO request_nonces (key_id, nonce, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE request_nonces.expires_at <= $4",
        )
        .bind(key_id)
        .bind(nonce)
        .bind(to_millis(expires_at))
        .bind(self.now())
        .execute(&self.pool)
        .await
        .map_err(|e| unavailable("record nonce", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn live_nonces(&self, limit: usize) -> Result<Vec<(String, String, SystemTime)>> {
        let rows = sqlx::query(
            "SELECT key_id, nonce, expires_at FROM request_nonces WHERE expires_at > $1 \
             LIMIT $2",
        )
        .bind(self.now())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| unavailable("read nonces", e))?;
        rows.iter()
            .map(|row| {
                let read = |e| unavailable("read nonces", e);
                Ok((
                    row.try_get::<String, _>("key_id").map_err(read)?,
                    row.try_get::<String, _>("nonce").map_err(read)?,
                    from_millis(row.try_get::<i64, _>("expires_at").map_err(read)?),
                ))
            })
            .collect()
    }

    async fn sweep(&self) -> Result<SweepReport> {
        let now = self.now();
        let mut report = SweepReport::default();
        for (table, count) in [
            ("covers", &mut report.covers),
            ("reference_images", &mut report.reference_images),
            ("request_nonces", &mut report.nonces),
            // Callbacks before the tasks they belong to; every portrait row counts as one.
            ("portrait_callbacks", &mut report.portraits),
        ] {
            let done = sqlx::query(&format!("DELETE FROM {table} WHERE expires_at <= $1"))
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(|e| unavailable("sweep", e))?;
            *count += done.rows_affected();
        }
        for table in [
            "portrait_tasks",
            "portrait_user_models",
            "portrait_uploads",
            "callback_attempts",
            "disabled_callback_endpoints",
        ] {
            let done = sqlx::query(&format!("DELETE FROM {table} WHERE expires_at <= $1"))
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(|e| unavailable("sweep", e))?;
            report.portraits += done.rows_affected();
        }
        Ok(report)
    }
}
