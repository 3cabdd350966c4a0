-- Jobs: the validated definition as JSON, plus what the scheduler owns (agent, epoch).
CREATE TABLE IF NOT EXISTS jobs (
    id               VARCHAR(40)     NOT NULL PRIMARY KEY,
    name             VARCHAR(128)    NOT NULL,
    spec             MEDIUMTEXT      NOT NULL, -- JSON of the job as accepted by the API
    enabled          BOOLEAN         NOT NULL,
    agent_id         VARCHAR(64)     NULL,
    assignment_epoch BIGINT UNSIGNED NOT NULL DEFAULT 0,
    created_at       DATETIME(3)     NOT NULL,
    updated_at       DATETIME(3)     NOT NULL,
    UNIQUE KEY jobs_name (name),
    KEY jobs_agent (agent_id),
    KEY jobs_enabled (enabled)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Who changed what: every job change through the API.
CREATE TABLE IF NOT EXISTS audit_log (
    id       BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at       DATETIME(3)     NOT NULL,
    actor    VARCHAR(128)    NOT NULL,
    action   VARCHAR(32)     NOT NULL,
    job_id   VARCHAR(40)     NULL,
    detail   MEDIUMTEXT      NOT NULL,
    KEY audit_job (job_id, at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
