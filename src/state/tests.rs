//! Every store test runs on SQLite (a temp dir) and on PostgreSQL (its own schema in the
//! `test` database at 127.0.0.1:5432, or `IMGFORGE_TEST_POSTGRES_URL`). Where PostgreSQL is
//! absent the PostgreSQL half skips with the reason printed, and fails in strict mode.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Executor;

use super::*;
use crate::config::StateSettings;

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

pub(super) struct Backend {
    pub(super) store: Arc<dyn StateStore>,
    pub(super) clock: Arc<ManualClock>,
    /// Keeps the SQLite folder alive; drops the PostgreSQL schema when done.
    cleanup: Option<Cleanup>,
}

enum Cleanup {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema {
        admin: sqlx::AnyPool,
        schema: String,
    },
}

impl Backend {
    async fn finish(mut self) {
        if let Some(Cleanup::Schema { admin, schema }) = self.cleanup.take() {
            let _ = admin
                .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
                .await;
        }
    }
}

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_767_225_600_000)
}

fn settings(url: String, dir: &std::path::Path) -> StateSettings {
    StateSettings {
        url,
        data_dir: dir.to_path_buf(),
        ..StateSettings::default()
    }
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at(start()));
    let store = open(&settings(String::new(), dir.path()), clock.clone())
        .await
        .expect("sqlite store opens");
    Backend {
        store,
        clock,
        cleanup: Some(Cleanup::Dir(dir)),
    }
}

async fn postgres() -> Option<Backend> {
    sqlx::any::install_default_drivers();
    let url = std::env::var("IMGFORGE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES.to_owned());
    let admin = match sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await
    {
        Ok(pool) => pool,
        Err(e) => {
            crate::test_support::unavailable(format_args!("PostgreSQL at {url}: {e}"));
            return None;
        }
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("create the test schema");
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options[search_path]={schema}");
    let clock = Arc::new(ManualClock::at(start()));
    let dir = std::env::temp_dir();
    let store = open(&settings(scoped, &dir), clock.clone())
        .await
        .expect("postgres store opens");
    Some(Backend {
        store,
        clock,
        cleanup: Some(Cleanup::Schema { admin, schema }),
    })
}

/// Runs `check` on each available backend.
pub(super) async fn on_each_backend<F, Fut>(check: F)
where
    F: Fn(Backend) -> Fut,
    Fut: std::future::Future<Output = Backend>,
{
    check(sqlite().await).await.finish().await;
    if let Some(pg) = postgres().await {
        assert_eq!(pg.store.backend(), "postgres");
        check(pg).await.finish().await;
    }
}

fn cover(id: &str, owner: &str, clock: &ManualClock, ttl: Duration) -> CoverRecord {
    CoverRecord {
        id: id.to_owned(),
        owner_key: owner.to_owned(),
        status: CoverStatus::Queued,
        result_blob: None,
        created_at: clock.now(),
        expires_at: clock.now() + ttl,
    }
}

#[tokio::test]
async fn a_cover_is_found_by_its_owner_until_it_expires() {
    on_each_backend(|b| async move {
        let ttl = Duration::from_secs(30 * 60);
        let record = cover("c1", "ak_a", &b.clock, ttl);
        b.store.insert_cover(&record).await.unwrap();
        assert_eq!(b.store.cover("ak_a", "c1").await.unwrap(), Some(record));
        assert_eq!(
            b.store.cover("ak_b", "c1").await.unwrap(),
            None,
            "another tenant"
        );

        assert!(
            b.store
                .update_cover("ak_a", "c1", CoverStatus::Completed, Some("covers/c1.png"))
                .await
                .unwrap()
        );
        assert!(
            !b.store
                .update_cover("ak_b", "c1", CoverStatus::Failed, None)
                .await
                .unwrap()
        );
        let done = b.store.cover("ak_a", "c1").await.unwrap().unwrap();
        assert_eq!(done.status, CoverStatus::Completed);
        assert_eq!(done.result_blob.as_deref(), Some("covers/c1.png"));

        b.clock.advance(ttl - Duration::from_millis(1));
        assert!(b.store.cover("ak_a", "c1").await.unwrap().is_some());
        b.clock.advance(Duration::from_millis(1));
        assert_eq!(b.store.cover("ak_a", "c1").await.unwrap(), None);
        assert!(
            !b.store
                .update_cover("ak_a", "c1", CoverStatus::Failed, None)
                .await
                .unwrap()
        );
        b
    })
    .await;
}

#[tokio::test]
async fn a_reference_image_is_private_to_its_key_and_expires() {
    on_each_backend(|b| async move {
        let image = ReferenceImage {
            id: "r1".into(),
            owner_key: "ak_a".into(),
            blob_key: "uploads/r1".into(),
            created_at: b.clock.now(),
            expires_at: b.clock.now() + Duration::from_secs(60),
        };
        b.store.insert_reference_image(&image).await.unwrap();
        assert_eq!(
            b.store.reference_image("ak_a", "r1").await.unwrap(),
            Some(image)
        );
        assert_eq!(b.store.reference_image("ak_b", "r1").await.unwrap(), None);
        b.clock.advance(Duration::from_secs(60));
        assert_eq!(b.store.reference_image("ak_a", "r1").await.unwrap(), None);
        b
    })
    .await;
}

#[tokio::test]
async fn a_nonce_is_claimed_once_per_key_until_it_expires() {
    on_each_backend(|b| async move {
        let until = b.clock.now() + Duration::from_secs(300);
        assert!(b.store.claim_nonce("ak_a", "n1", until).await.unwrap());
        assert!(
            !b.store.claim_nonce("ak_a", "n1", until).await.unwrap(),
            "replay"
        );
        assert!(
            b.store.claim_nonce("ak_b", "n1", until).await.unwrap(),
            "other key"
        );
        b.clock.advance(Duration::from_secs(300));
        let later = b.clock.now() + Duration::from_secs(300);
        assert!(
            b.store.claim_nonce("ak_a", "n1", later).await.unwrap(),
            "an expired record no longer blocks"
        );
        assert!(!b.store.claim_nonce("ak_a", "n1", later).await.unwrap());
        b
    })
    .await;
}

#[tokio::test]
async fn concurrent_claims_of_one_nonce_let_exactly_one_through() {
    on_each_backend(|b| async move {
        let until = b.clock.now() + Duration::from_secs(300);
        let claims = (0..8).map(|_| {
            let store = b.store.clone();
            tokio::spawn(async move { store.claim_nonce("ak_a", "race", until).await.unwrap() })
        });
        let won = futures::future::join_all(claims)
            .await
            .into_iter()
            .filter(|r| *r.as_ref().unwrap())
            .count();
        assert_eq!(won, 1);
        b
    })
    .await;
}

#[tokio::test]
async fn sweep_deletes_only_expired_rows() {
    on_each_backend(|b| async move {
        let short = cover("short", "ak", &b.clock, Duration::from_secs(10));
        let long = cover("long", "ak", &b.clock, Duration::from_secs(1000));
        b.store.insert_cover(&short).await.unwrap();
        b.store.insert_cover(&long).await.unwrap();
        b.store
            .claim_nonce("ak", "n", b.clock.now() + Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(b.store.sweep().await.unwrap().total(), 0);
        b.clock.advance(Duration::from_secs(10));
        let report = b.store.sweep().await.unwrap();
        assert_eq!(
            report,
            SweepReport {
                covers: 1,
                reference_images: 0,
                nonces: 1,
                portraits: 0,
            }
        );
        assert!(b.store.cover("ak", "long").await.unwrap().is_some());
        b
    })
    .await;
}

#[tokio::test]
async fn the_sqlite_file_is_created_on_first_start_and_keeps_rows_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let clock = Arc::new(ManualClock::at(start()));
    let config = settings(String::new(), &data);
    let first = open(&config, clock.clone()).await.unwrap();
    assert_eq!(first.backend(), "sqlite");
    assert!(data.join("state.sqlite").is_file());
    first
        .insert_cover(&cover("kept", "ak", &clock, Duration::from_secs(1800)))
        .await
        .unwrap();
    drop(first);
    // Migrations already applied are recognised, not re-run.
    let second = open(&config, clock.clone()).await.unwrap();
    assert!(second.cover("ak", "kept").await.unwrap().is_some());
}

#[tokio::test]
async fn an_unknown_url_scheme_is_refused_naming_the_setting() {
    let clock = Arc::new(ManualClock::at(start()));
    let err = open(
        &settings("mysql://u:pw@h/db".into(), std::path::Path::new(".")),
        clock,
    )
    .await
    .unwrap_err();
    assert!(err.message.contains("state.url"), "{}", err.message);
    assert!(!err.message.contains("pw"), "{}", err.message);
}
