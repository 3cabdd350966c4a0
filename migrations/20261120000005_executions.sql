-- Every execution an agent started (or recorded as skipped/missed), keyed by the id the agent
-- chose, so replayed reports from an agent's spool are idempotent.
CREATE TABLE IF NOT EXISTS executions (
    id               VARCHAR(40)       NOT NULL PRIMARY KEY,
    job_id           VARCHAR(40)       NOT NULL,
    agent_id         VARCHAR(64)       NOT NULL,
    epoch            BIGINT UNSIGNED   NOT NULL,
    -- The instant the fire was due (for manual triggers: when it was asked for).
    scheduled_at     DATETIME(3)       NOT NULL,
    started_at       DATETIME(3)       NULL,
    finished_at      DATETIME(3)       NULL,
    -- scheduled running succeeded failed timed_out killed lost skipped missed
    status           VARCHAR(16)       NOT NULL,
    -- schedule manual retry (`trigger` is a reserved word)
    trigger_kind     VARCHAR(16)       NOT NULL,
    -- JSON array of {number, started_at_ms, finished_at_ms, status, exit_code, http_status, error}
    attempts         MEDIUMTEXT        NOT NULL,
    attempt_count    INT UNSIGNED      NOT NULL DEFAULT 0,
    exit_code        INT               NULL,
    http_status      SMALLINT UNSIGNED NULL,
    output           MEDIUMTEXT        NOT NULL,
    output_truncated BOOLEAN           NOT NULL DEFAULT FALSE,
    -- Capped at 8 KiB by the scheduler (TEXT holds 64 KiB of bytes, utf8mb4 up to 4 per char).
    error            TEXT              NOT NULL,
    -- Set while waiting for an async (202 / ACCEPTED) result.
    async_deadline   DATETIME(3)       NULL,
    retry_of         VARCHAR(40)       NULL,
    -- The agent's report revision applied last; older replays never overwrite newer state.
    revision         INT UNSIGNED      NOT NULL DEFAULT 0,
    -- Who set the final status: agent, result (async report), sweeper (lost / async timeout).
    settled_by       VARCHAR(16)       NULL,
    -- A result posted after the execution was already settled (e.g. after its async timeout).
    -- JSON {status, output, error, received_at}; output may be up to the 64 KiB cap.
    late_result      MEDIUMTEXT        NULL,
    recorded_at      DATETIME(3)       NOT NULL,
    updated_at       DATETIME(3)       NOT NULL,
    KEY executions_job (job_id, scheduled_at),
    -- History queries filter by one column and page newest first by (scheduled_at, id).
    KEY executions_agent (agent_id, scheduled_at),
    KEY executions_status (status, scheduled_at),
    KEY executions_scheduled (scheduled_at, id),
    -- The async sweeper looks for running rows past their deadline; settled rows keep their
    -- deadline, so the status comes first.
    KEY executions_async (status, async_deadline)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- The newest scheduled instant recorded for a job: where a new owner's misfire window starts.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS last_scheduled_at DATETIME(3) NULL;
