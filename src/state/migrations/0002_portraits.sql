-- Seed 003 portraits. Same portable shape as 0001: TEXT ids, BIGINT milliseconds, an expiry
-- on every row. Lists (photo keys, result keys, input paths) are JSON arrays in TEXT: they are
-- only ever read and written whole.

-- An uploaded base photo: `path` is what the caller holds ("user_upload/<tenant>/<uuid>.jpg").
CREATE TABLE portrait_uploads (
    path       TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL,
    blob_key   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX portrait_uploads_expires_at ON portrait_uploads (expires_at);

-- A user model: the curated photos (local) and/or a remote provider's model handle.
CREATE TABLE portrait_user_models (
    user_id       TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL,
    status        TEXT NOT NULL,
    photo_keys    TEXT NOT NULL,
    remote_handle TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX portrait_user_models_expires_at ON portrait_user_models (expires_at);

-- A training (1) or generation (2) task in seed 003's states 1-5. A worker owns a task while
-- `lease_expires_at` is in the future; an expired lease is taken over by the next claim.
CREATE TABLE portrait_tasks (
    id               TEXT PRIMARY KEY,
    tenant           TEXT NOT NULL,
    task_type        BIGINT NOT NULL,
    state            BIGINT NOT NULL,
    user_id          TEXT NOT NULL,
    style            TEXT,
    callback_url     TEXT,
    input_paths      TEXT NOT NULL,
    remote_task_id   TEXT,
    result_keys      TEXT NOT NULL,
    error            TEXT,
    attempts         BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX portrait_tasks_claim ON portrait_tasks (state, lease_expires_at, created_at);
CREATE INDEX portrait_tasks_user ON portrait_tasks (tenant, user_id);
CREATE INDEX portrait_tasks_expires_at ON portrait_tasks (expires_at);

-- One callback per finished task that has a callback_url; `webhook_id` stays the same across
-- delivery attempts (Standard Webhooks' webhook-id).
CREATE TABLE portrait_callbacks (
    webhook_id   TEXT PRIMARY KEY,
    task_id      TEXT NOT NULL UNIQUE,
    tenant       TEXT NOT NULL,
    url          TEXT NOT NULL,
    body         TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    delivered_at BIGINT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX portrait_callbacks_expires_at ON portrait_callbacks (expires_at);
