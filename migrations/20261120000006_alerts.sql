-- Every alert, delivered or not (design §8): written as `pending` before delivery is tried, so
-- a crash between the event and its delivery loses nothing. One row per recipient.
CREATE TABLE IF NOT EXISTS alerts (
    id               BIGINT UNSIGNED   NOT NULL AUTO_INCREMENT PRIMARY KEY,
    -- failed timed_out recovered lost missed failure_rate unassigned agent_offline agent_online test
    event            VARCHAR(24)       NOT NULL,
    job_id           VARCHAR(40)       NULL,
    execution_id     VARCHAR(40)       NULL,
    agent_id         VARCHAR(64)       NULL,
    -- email feishu webhook
    channel          VARCHAR(16)       NOT NULL,
    -- The address only (email address or webhook URL), never a signing secret.
    recipient        VARCHAR(512)      NOT NULL,
    -- Where the Feishu signing secret is looked up at send time: 'job' (the job's
    -- alerts.feishu_webhooks entry with this URL), 'cluster' (CRONY_FEISHU_SECRET), or NULL.
    secret_ref       VARCHAR(16)       NULL,
    -- pending sent failed (will retry) dead (gave up) suppressed (throttled or grouped)
    status           VARCHAR(16)       NOT NULL,
    attempts         INT UNSIGNED      NOT NULL DEFAULT 0,
    last_error       TEXT              NOT NULL,
    -- The `Alert` JSON to send (title and items).
    payload          MEDIUMTEXT        NOT NULL,
    -- What throttling counts as "the same alert": event + job (or agent).
    group_key        VARCHAR(120)      NOT NULL,
    -- For rows grouped into another alert's message: that alert's id.
    grouped_into     BIGINT UNSIGNED   NULL,
    -- The delivery worker's claim on the row (set with next_attempt_at pushed forward).
    claim            VARCHAR(36)       NULL,
    created_at       DATETIME(3)       NOT NULL,
    next_attempt_at  DATETIME(3)       NOT NULL,
    sent_at          DATETIME(3)       NULL,
    updated_at       DATETIME(3)       NOT NULL,
    -- The worker looks for due rows.
    KEY alerts_due (status, next_attempt_at),
    -- History pages newest first by (created_at, id).
    KEY alerts_created (created_at, id),
    KEY alerts_job (job_id, created_at, id),
    -- Burst detection counts what was sent lately.
    KEY alerts_sent (sent_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Throttle state per (group, channel, recipient): when it last alerted, and what was suppressed
-- since. Its row lock serialises schedulers recording the same alert at the same time.
CREATE TABLE IF NOT EXISTS alert_throttle (
    group_key        VARCHAR(120)      NOT NULL,
    channel          VARCHAR(16)       NOT NULL,
    recipient        VARCHAR(512)      NOT NULL,
    last_alert_at    DATETIME(3)       NOT NULL,
    suppressed       INT UNSIGNED      NOT NULL DEFAULT 0,
    suppressed_since DATETIME(3)       NULL,
    PRIMARY KEY (group_key, channel, recipient)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
