-- The soonest fires across the cluster, published by the leader about once a second
-- (scheduler/src/leader/upcoming.rs) so that every scheduler's overview reads a few rows
-- instead of evaluating every job's schedule per request.
CREATE TABLE IF NOT EXISTS upcoming_fires (
    position TINYINT UNSIGNED NOT NULL PRIMARY KEY,
    job_id   VARCHAR(40)      NOT NULL,
    job_name VARCHAR(200)     NOT NULL,
    agent_id VARCHAR(128)     NULL,
    at       DATETIME(3)      NOT NULL,
    timezone VARCHAR(64)      NOT NULL
) ENGINE = InnoDB;

-- When the list above was last published (absent: never), and the jobs each agent held then
-- (a JSON object by agent id, paused jobs included).
CREATE TABLE IF NOT EXISTS upcoming_published (
    id             TINYINT UNSIGNED NOT NULL PRIMARY KEY,
    at             DATETIME(3)      NOT NULL,
    jobs_per_agent MEDIUMTEXT       NOT NULL
) ENGINE = InnoDB;

-- Jobs changed since the last publish are merged in by the API (read-your-writes).
CREATE INDEX IF NOT EXISTS jobs_updated ON jobs (updated_at);
