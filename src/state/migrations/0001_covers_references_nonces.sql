-- Portable between SQLite and PostgreSQL: TEXT ids, BIGINT milliseconds since the Unix epoch
-- (no time zones, no engine-specific timestamp types), expiry on every row so one sweep
-- query per table cleans up.
--
-- `owner_key` is the API key id (the tenant). Later tables (portrait tasks with leases and
-- heartbeats, user models, callbacks) follow the same shape in their own migrations.

CREATE TABLE covers (
    id          TEXT PRIMARY KEY,
    owner_key   TEXT NOT NULL,
    status      TEXT NOT NULL,
    result_blob TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX covers_expires_at ON covers (expires_at);

CREATE TABLE reference_images (
    id         TEXT PRIMARY KEY,
    owner_key  TEXT NOT NULL,
    blob_key   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX reference_images_expires_at ON reference_images (expires_at);

-- A signed request's nonce, kept until its timestamp can no longer pass the freshness check.
CREATE TABLE request_nonces (
    key_id     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX request_nonces_expires_at ON request_nonces (expires_at);
