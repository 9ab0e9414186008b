//! [`PortraitStore`] on the same portable SQL as the rest of [`SqlStateStore`]. Claiming is
//! one `UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING`: PostgreSQL adds
//! `FOR UPDATE SKIP LOCKED` so concurrent claimers pass each other by instead of queueing on one
//! row; SQLite has one writer at a time, so the statement is already exclusive there.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::clock::{from_millis, to_millis};
use super::portrait_records::{
    CallbackAttempt, DeletedUserModel, PortraitCallback, PortraitTask, PortraitUpload, TaskEnd,
    TaskState, TaskType, UserModel, UserModelStatus,
};
use super::portraits::PortraitStore;
use super::sql::{SqlStateStore, unavailable};
use crate::error::{Error, Result};

const TASK_COLUMNS: &str = "id, tenant, task_type, state, user_id, style, callback_url, \
    input_paths, remote_task_id, result_keys, error, attempts, lease_owner, lease_expires_at, \
    created_at, updated_at, expires_at";

const CALLBACK_COLUMNS: &str =
    "webhook_id, task_id, tenant, url, body, attempts, delivered_at, created_at, expires_at";

impl SqlStateStore {
    /// Claims on PostgreSQL pass rows another claimer holds instead of queueing on them;
    /// SQLite has one writer at a time, so its statements are already exclusive.
    fn skip_locked(&self) -> &'static str {
        if self.backend_name() == "postgres" {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        }
    }
}

fn bad_row(what: &str) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |e| Error::internal(format!("state store: bad {what} row: {e}"))
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

fn from_json(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text)
        .map_err(|e| Error::internal(format!("state store: bad JSON list {text:?}: {e}")))
}

fn millis(at: Duration) -> i64 {
    i64::try_from(at.as_millis()).unwrap_or(i64::MAX)
}

fn task_from_row(row: &AnyRow) -> Result<PortraitTask> {
    let d = bad_row("portrait task");
    Ok(PortraitTask {
        id: row.try_get("id").map_err(&d)?,
        tenant: row.try_get("tenant").map_err(&d)?,
        task_type: TaskType::from_code(row.try_get("task_type").map_err(&d)?)?,
        state: TaskState::from_code(row.try_get("state").map_err(&d)?)?,
        user_id: row.try_get("user_id").map_err(&d)?,
        style: row.try_get("style").map_err(&d)?,
        callback_url: row.try_get("callback_url").map_err(&d)?,
        input_paths: from_json(&row.try_get::<String, _>("input_paths").map_err(&d)?)?,
        remote_task_id: row.try_get("remote_task_id").map_err(&d)?,
        result_keys: from_json(&row.try_get::<String, _>("result_keys").map_err(&d)?)?,
        error: row.try_get("error").map_err(&d)?,
        attempts: row.try_get("attempts").map_err(&d)?,
        lease_owner: row.try_get("lease_owner").map_err(&d)?,
        lease_expires_at: row
            .try_get::<Option<i64>, _>("lease_expires_at")
            .map_err(&d)?
            .map(from_millis),
        created_at: from_millis(row.try_get("created_at").map_err(&d)?),
        updated_at: from_millis(row.try_get("updated_at").map_err(&d)?),
        expires_at: from_millis(row.try_get("expires_at").map_err(&d)?),
    })
}

fn callback_from_row(row: &AnyRow) -> Result<PortraitCallback> {
    let d = bad_row("portrait callback");
    Ok(PortraitCallback {
        webhook_id: row.try_get("webhook_id").map_err(&d)?,
        task_id: row.try_get("task_id").map_err(&d)?,
        tenant: row.try_get("tenant").map_err(&d)?,
        url: row.try_get("url").map_err(&d)?,
        body: row.try_get("body").map_err(&d)?,
        attempts: row.try_get("attempts").map_err(&d)?,
        delivered_at: row
            .try_get::<Option<i64>, _>("delivered_at")
            .map_err(&d)?
            .map(from_millis),
        created_at: from_millis(row.try_get("created_at").map_err(&d)?),
        expires_at: from_millis(row.try_get("expires_at").map_err(&d)?),
    })
}

const ATTEMPT_COLUMNS: &str = "webhook_id, tenant, url, attempt, sent_timestamp, outcome, \
    status, detail, next_in_ms, at, expires_at";

fn attempt_from_row(row: &AnyRow) -> Result<CallbackAttempt> {
    let d = bad_row("callback attempt");
    Ok(CallbackAttempt {
        webhook_id: row.try_get("webhook_id").map_err(&d)?,
        tenant: row.try_get("tenant").map_err(&d)?,
        url: row.try_get("url").map_err(&d)?,
        attempt: row.try_get("attempt").map_err(&d)?,
        sent_timestamp: row.try_get("sent_timestamp").map_err(&d)?,
        outcome: row.try_get("outcome").map_err(&d)?,
        status: row.try_get("status").map_err(&d)?,
        detail: row.try_get("detail").map_err(&d)?,
        next_in: row
            .try_get::<Option<i64>, _>("next_in_ms")
            .map_err(&d)?
            .map(|ms| Duration::from_millis(ms.max(0) as u64)),
        at: from_millis(row.try_get("at").map_err(&d)?),
        expires_at: from_millis(row.try_get("expires_at").map_err(&d)?),
    })
}

fn model_from_row(row: &AnyRow) -> Result<UserModel> {
    let d = bad_row("user model");
    Ok(UserModel {
        user_id: row.try_get("user_id").map_err(&d)?,
        tenant: row.try_get("tenant").map_err(&d)?,
        status: UserModelStatus::parse(&row.try_get::<String, _>("status").map_err(&d)?)?,
        photo_keys: from_json(&row.try_get::<String, _>("photo_keys").map_err(&d)?)?,
        remote_handle: row.try_get("remote_handle").map_err(&d)?,
        created_at: from_millis(row.try_get("created_at").map_err(&d)?),
        expires_at: from_millis(row.try_get("expires_at").map_err(&d)?),
    })
}

#[async_trait]
impl PortraitStore for SqlStateStore {
    async fn insert_portrait_upload(&self, upload: &PortraitUpload) -> Result<()> {
        sqlx::query(
            "INSERT INTO portrait_uploads (path, tenant, blob_key, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&upload.path)
        .bind(&upload.tenant)
        .bind(&upload.blob_key)
        .bind(to_millis(upload.created_at))
        .bind(to_millis(upload.expires_at))
        .execute(self.pool())
        .await
        .map_err(|e| unavailable("insert portrait upload", e))?;
        Ok(())
    }

    async fn portrait_upload(&self, tenant: &str, path: &str) -> Result<Option<PortraitUpload>> {
        let row = sqlx::query(
            "SELECT path, tenant, blob_key, created_at, expires_at FROM portrait_uploads \
             WHERE path = $1 AND tenant = $2 AND expires_at > $3",
        )
        .bind(path)
        .bind(tenant)
        .bind(self.now())
        .fetch_optional(self.pool())
        .await
        .map_err(|e| unavailable("read portrait upload", e))?;
        let Some(row) = row else { return Ok(None) };
        let d = bad_row("portrait upload");
        Ok(Some(PortraitUpload {
            path: row.try_get("path").map_err(&d)?,
            tenant: row.try_get("tenant").map_err(&d)?,
            blob_key: row.try_get("blob_key").map_err(&d)?,
            created_at: from_millis(row.try_get("created_at").map_err(&d)?),
            expires_at: from_millis(row.try_get("expires_at").map_err(&d)?),
        }))
    }

    async fn insert_user_model(&self, model: &UserModel) -> Result<()> {
        sqlx::query(
            "INSERT INTO portrait_user_models (user_id, tenant, status, photo_keys, remote_handle, \
             created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
        )
        .bind(&model.user_id)
        .bind(&model.tenant)
        .bind(model.status.as_str())
        .bind(to_json(&model.photo_keys))
        .bind(model.remote_handle.as_deref())
        .bind(to_millis(model.created_at))
        .bind(to_millis(model.expires_at))
        .execute(self.pool())
        .await
        .map_err(|e| unavailable("insert user model", e))?;
        Ok(())
    }

    async fn user_model(&self, tenant: &str, user_id: &str) -> Result<Option<UserModel>> {
        let row = sqlx::query(
            "SELECT user_id, tenant, status, photo_keys, remote_handle, created_at, expires_at \
             FROM portrait_user_models WHERE user_id = $1 AND tenant = $2 AND expires_at > $3",
        )
        .bind(user_id)
        .bind(tenant)
        .bind(self.now())
        .fetch_optional(self.pool())
        .await
        .map_err(|e| unavailable("read user model", e))?;
        row.as_ref().map(model_from_row).transpose()
    }

    async fn update_user_model(
        &self,
        tenant: &str,
        user_id: &str,
        status: UserModelStatus,
        photo_keys: &[String],
        remote_handle: Option<&str>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE portrait_user_models SET status = $1, photo_keys = $2, \
             remote_handle = COALESCE($3, remote_handle), updated_at = $4 \
             WHERE user_id = $5 AND tenant = $6 AND expires_at > $4",
        )
        .bind(status.as_str())
        .bind(to_json(photo_keys))
        .bind(remote_handle)
        .bind(self.now())
        .bind(user_id)
        .bind(tenant)
        .execute(self.pool())
        .await
        .map_err(|e| unavailable("update user model", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_user_model(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<Option<DeletedUserModel>> {
        let fail = |e| unavailable("delete user model", e);
        let mut tx = self.pool().begin().await.map_err(fail)?;
        let model = sqlx::query(
            "DELETE FROM portrait_user_models WHERE user_id = $1 AND tenant = $2 \
             RETURNING photo_keys",
        )
        .bind(user_id)
        .bind(tenant)
        .fetch_optional(&mut *tx)
        .await
        .map_err(fail)?;
        let Some(model) = model else {
            return Ok(None);
        };
        let mut deleted = DeletedUserModel::default();
        let d = bad_row("user model");
        deleted.blob_keys.extend(from_json(
            &model.try_get::<String, _>("photo_keys").map_err(&d)?,
        )?);
        sqlx::query(
            "DELETE FROM portrait_callbacks WHERE task_id IN \
             (SELECT id FROM portrait_tasks WHERE tenant = $1 AND user_id = $2)",
        )
        .bind(tenant)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        let tasks = sqlx::query(
            "DELETE FROM portrait_tasks WHERE tenant = $1 AND user_id = $2 RETURNING result_keys",
        )
        .bind(tenant)
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(fail)?;
        for row in &tasks {
            deleted.blob_keys.extend(from_json(
                &row.try_get::<String, _>("result_keys").map_err(&d)?,
            )?);
        }
        deleted.tasks = tasks.len() as u64;
        tx.commit().await.map_err(fail)?;
        Ok(Some(deleted))
    }

    async fn insert_portrait_task(&self, task: &PortraitTask) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO portrait_tasks ({TASK_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        ))
        .bind(&task.id)
        .bind(&task.tenant)
        .bind(task.task_type.code())
        .bind(task.state.code())
        .bind(&task.user_id)
        .bind(task.style.as_deref())
        .bind(task.callback_url.as_deref())
        .bind(to_json(&task.input_paths))
        .bind(task.remote_task_id.as_deref())
        .bind(to_json(&task.result_keys))
        .bind(task.error.as_deref())
        .bind(task.attempts)
        .bind(task.lease_owner.as_deref())
        .bind(task.lease_expires_at.map(to_millis))
        .bind(to_millis(task.created_at))
        .bind(to_millis(task.updated_at))
        .bind(to_millis(task.expires_at))
        .execute(self.pool())
        .await
        .map_err(|e| unavailable("insert portrait task", e))?;
        Ok(())
    }

    async fn portrait_task(&self, tenant: &str, id: &str) -> Result<Option<PortraitTask>> {
        let row = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM portrait_tasks \
             WHERE id = $1 AND tenant = $2 AND expires_at > $3"
        ))
        .bind(id)
        .bind(tenant)
        .bind(self.now())
        .fetch_optional(self.pool())
        .await
        .map_err(|e| unavailable("read portrait task", e))?;
        row.as_ref().map(task_from_row).transpose()
    }

    async fn claim_portrait_task(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<PortraitTask>> {
        let now = self.now();
        let lock = self.skip_locked();
        // The outer WHERE repeats the claimable test: on PostgreSQL a row re-checked after a
        // concurrent update must still be claimable.
        let claimable = "state IN (1, 2) AND expires_at > $3 \
                         AND (lease_expires_at IS NULL OR lease_expires_at <= $3)";
        let row = sqlx::query(&format!(
            "UPDATE portrait_tasks SET state = 2, lease_owner = $1, lease_expires_at = $2, \
             attempts = attempts + 1, updated_at = $3 \
             WHERE id = (SELECT id FROM portrait_tasks WHERE {claimable} \
                         ORDER BY created_at, id LIMIT 1{lock}) \
             AND {claimable} RETURNING {TASK_COLUMNS}"
        ))
        .bind(owner)
        .bind(now.saturating_add(millis(lease)))
        .bind(now)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| unavailable("claim portrait task", e))?;
        row.as_ref().map(task_from_row).transpose()
    }

    async fn heartbeat_portrait_task(
        &self,
        id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool> {
        let now = self.now();
        let done = sqlx::query(
            "UPDATE portrait_tasks SET lease_expires_at = $1, updated_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND state = 2",
        )
        .bind(now.saturating_add(millis(lease)))
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(|e| unavailable("extend a portrait lease", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_portrait_remote_task(&self, id: &str, owner: &str, remote: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE portrait_tasks SET remote_task_id = $1, updated_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND state = 2",
        )
        .bind(remote)
        .bind(self.now())
        .bind(id)
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(|e| unavailable("store a remote task id", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_portrait_results(&self, id: &str, owner: &str, keys: &[String]) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE portrait_tasks SET result_keys = $1, updated_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND state = 2",
        )
        .bind(to_json(keys))
        .bind(self.now())
        .bind(id)
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(|e| unavailable("store portrait results", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_portrait_task(
        &self,
        id: &str,
        owner: &str,
        retry_at: SystemTime,
        error: &str,
    ) -> Result<bool> {
        // The owner stays recorded (for logs); the past-or-future lease decides claimability.
        let done = sqlx::query(
            "UPDATE portrait_tasks SET lease_expires_at = $1, error = $2, updated_at = $3 \
             WHERE id = $4 AND lease_owner = $5 AND state = 2",
        )
        .bind(to_millis(retry_at))
        .bind(error)
        .bind(self.now())
        .bind(id)
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(|e| unavailable("release a portrait task", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_portrait_task(
        &self,
        id: &str,
        owner: &str,
        end: &TaskEnd,
        callback: Option<&PortraitCallback>,
    ) -> Result<bool> {
        let fail = |e| unavailable("finish a portrait task", e);
        let mut tx = self.pool().begin().await.map_err(fail)?;
        let done = sqlx::query(
            "UPDATE portrait_tasks SET state = $1, result_keys = $2, error = $3, \
             lease_owner = NULL, lease_expires_at = NULL, updated_at = $4 \
             WHERE id = $5 AND lease_owner = $6 AND state = 2",
        )
        .bind(end.state.code())
        .bind(to_json(&end.result_keys))
        .bind(end.error.as_deref())
        .bind(self.now())
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(callback) = callback {
            sqlx::query(&format!(
                "INSERT INTO portrait_callbacks ({CALLBACK_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (task_id) DO NOTHING"
            ))
            .bind(&callback.webhook_id)
            .bind(&callback.task_id)
            .bind(&callback.tenant)
            .bind(&callback.url)
            .bind(&callback.body)
            .bind(callback.attempts)
            .bind(callback.delivered_at.map(to_millis))
            .bind(to_millis(callback.created_at))
            .bind(to_millis(callback.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        }
        tx.commit().await.map_err(fail)?;
        Ok(true)
    }

    async fn portrait_callback(&self, task_id: &str) -> Result<Option<PortraitCallback>> {
        let row = sqlx::query(&format!(
            "SELECT {CALLBACK_COLUMNS} FROM portrait_callbacks WHERE task_id = $1"
        ))
        .bind(task_id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| unavailable("read portrait callback", e))?;
        row.as_ref().map(callback_from_row).transpose()
    }

    async fn record_callback_attempt(&self, webhook_id: &str, delivered: bool) -> Result<()> {
        let now = self.now();
        sqlx::query(
            "UPDATE portrait_callbacks SET attempts = attempts + 1, \
             delivered_at = CASE WHEN $1 = 1 THEN $2 ELSE delivered_at END WHERE webhook_id = $3",
        )
        .bind(i64::from(delivered))
        .bind(now)
        .bind(webhook_id)
        .execute(self.pool())
        .await
        .map_err(|e| unavailable("record a callback attempt", e))?;
        Ok(())
    }

    async fn insert_callback_attempt(&self, a: &CallbackAttempt) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO callback_attempts ({ATTEMPT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&a.webhook_id)
        .bind(&a.tenant)
        .bind(&a.url)
        .bind(a.attempt)
        .bind(a.sent_timestamp)
        .bind(&a.outcome)
        .bind(a.status)
        .bind(&a.detail)
        .bind(a.next_in.map(millis))
        .bind(to_millis(a.at))
        .bind(to_millis(a.expires_at))
        .execute(self.pool())
        .await
        .map_err(|e| unavailable("record a callback attempt", e))?;
        Ok(())
    }

    async fn callback_attempts(&self, webhook_id: &str) -> Result<Vec<CallbackAttempt>> {
        let rows = sqlx::query(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM callback_attempts \
             WHERE webhook_id = $1 AND expires_at > $2 ORDER BY at, attempt"
        ))
        .bind(webhook_id)
        .bind(self.now())
        .fetch_all(self.pool())
        .await
        .map_err(|e| unavailable("read callback attempts", e))?;
        rows.iter().map(attempt_from_row).collect()
    }

    async fn disable_callback_endpoint(
        &self,
        tenant: &str,
        url_sha256: &str,
        url: &str,
        expires_at: SystemTime,
    ) -> Result<()> {
        // A second 410 (another replica, a re-sent callback) renews the entry.
        sqlx::query(
            "INSERT INTO disabled_callback_endpoints \
             (tenant, url_sha256, url, disabled_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant, url_sha256) DO UPDATE SET \
             disabled_at = excluded.disabled_at, expires_at = excluded.expires_at",
        )
        .bind(tenant)
        .bind(url_sha256)
        .bind(url)
        .bind(self.now())
        .bind(to_millis(expires_at))
        .execute(self.pool())
        .await
        .map_err(|e| unavailable("disable a callback endpoint", e))?;
        Ok(())
    }

    async fn callback_endpoint_disabled(&self, tenant: &str, url_sha256: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM disabled_callback_endpoints \
             WHERE tenant = $1 AND url_sha256 = $2 AND expires_at > $3",
        )
        .bind(tenant)
        .bind(url_sha256)
        .bind(self.now())
        .fetch_optional(self.pool())
        .await
        .map_err(|e| unavailable("read disabled callback endpoints", e))?;
        Ok(row.is_some())
    }

    async fn claim_callbacks(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
        webhook_id: Option<&str>,
    ) -> Result<Vec<PortraitCallback>> {
        let now = self.now();
        let lock = self.skip_locked();
        // Repeated outside the subquery for the same reason as in claim_portrait_task.
        let claimable = "delivered_at IS NULL AND expires_at > $3 \
                         AND (sender_until IS NULL OR sender_until <= $3) \
                         AND ($5 = '' OR webhook_id = $5)";
        let rows = sqlx::query(&format!(
            "UPDATE portrait_callbacks SET sender = $1, sender_until = $2 \
             WHERE webhook_id IN (SELECT webhook_id FROM portrait_callbacks WHERE {claimable} \
                                  ORDER BY created_at, webhook_id LIMIT $4{lock}) \
             AND {claimable} RETURNING {CALLBACK_COLUMNS}"
        ))
        .bind(owner)
        .bind(now.saturating_add(millis(lease)))
        .bind(now)
        .bind(limit)
        .bind(webhook_id.unwrap_or(""))
        .fetch_all(self.pool())
        .await
        .map_err(|e| unavailable("claim callbacks", e))?;
        let mut claimed = rows
            .iter()
            .map(callback_from_row)
            .collect::<Result<Vec<_>>>()?;
        claimed.sort_by_key(|c| c.created_at);
        Ok(claimed)
    }

    async fn renew_callback_claim(
        &self,
        webhook_id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE portrait_callbacks SET sender_until = $1 \
             WHERE webhook_id = $2 AND sender = $3 AND delivered_at IS NULL",
        )
        .bind(self.now().saturating_add(millis(lease)))
        .bind(webhook_id)
        .bind(owner)
        .execute(self.pool())
        .await
        .map_err(|e| unavailable("renew a callback claim", e))?;
        Ok(done.rows_affected() == 1)
    }
}
