-- Every callback delivery attempt, and endpoints disabled by a 410, kept across restarts and
-- shared by replicas. Attempts have no key of their own: a callback re-sent after a restart
-- counts its attempts from 1 again, and both runs stay in the history.
CREATE TABLE callback_attempts (
    webhook_id     TEXT NOT NULL,
    tenant         TEXT NOT NULL,
    url            TEXT NOT NULL,
    attempt        BIGINT NOT NULL,
    sent_timestamp BIGINT NOT NULL,
    outcome        TEXT NOT NULL,
    status         BIGINT,
    detail         TEXT NOT NULL,
    next_in_ms     BIGINT,
    at             BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX callback_attempts_webhook_id ON callback_attempts (webhook_id, at);
CREATE INDEX callback_attempts_expires_at ON callback_attempts (expires_at);

-- Keyed by the URL's SHA-256: a callback URL may carry a token in its query, which is not
-- stored; `url` is the redacted form, for operators.
CREATE TABLE disabled_callback_endpoints (
    tenant      TEXT NOT NULL,
    url_sha256  TEXT NOT NULL,
    url         TEXT NOT NULL,
    disabled_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, url_sha256)
);
CREATE INDEX disabled_callback_endpoints_expires_at ON disabled_callback_endpoints (expires_at);

-- Who is delivering an outbox row, until when (renewed while the schedule runs): a replica
-- starting up, or one looking for callbacks a dead process left, takes only rows whose claim
-- has lapsed, so two processes never send the same callback at once.
ALTER TABLE portrait_callbacks ADD COLUMN sender TEXT;
ALTER TABLE portrait_callbacks ADD COLUMN sender_until BIGINT;
