-- The job change queue the leader keeps its in-memory job index current with
-- (docs/placement.md). Every job write from any scheduler inserts a row naming the job, in the
-- write's own transaction. The leader reads rows, applies the jobs' state from the same
-- snapshot, then deletes exactly the rows it read, fenced by its term. A row that commits late
-- (its id below ids already read) is still there at the next read, so nothing depends on the
-- order ids become visible in, and writers never wait for each other: the auto-increment lock
-- is released when the id is taken, not at commit, so commits of concurrent writes group.
CREATE TABLE IF NOT EXISTS job_changes (
    id     BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job_id VARCHAR(40)     NOT NULL
) ENGINE = InnoDB;
