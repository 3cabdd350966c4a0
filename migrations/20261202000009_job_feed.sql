-- The job change feed the leader keeps its in-memory job index current with (docs/placement.md).
-- Every job write from any scheduler takes the next number from `job_feed` in its own
-- transaction. The counter's row lock is held until that transaction commits, so numbers
-- become visible in order: a reader that has seen N can never later find a change below N.
CREATE TABLE IF NOT EXISTS job_feed (
    id  TINYINT UNSIGNED NOT NULL PRIMARY KEY,
    seq BIGINT UNSIGNED  NOT NULL
) ENGINE = InnoDB;
INSERT IGNORE INTO job_feed (id, seq) VALUES (1, 0);

ALTER TABLE jobs ADD COLUMN IF NOT EXISTS change_seq BIGINT UNSIGNED NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS jobs_change_seq ON jobs (change_seq);

-- Deleted jobs, so the feed can tell the leader; pruned once older than every reader needs.
CREATE TABLE IF NOT EXISTS job_tombstones (
    seq    BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    job_id VARCHAR(40)     NOT NULL,
    at     DATETIME(3)     NOT NULL
) ENGINE = InnoDB;
