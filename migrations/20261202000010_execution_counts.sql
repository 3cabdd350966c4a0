-- Executions counted by UTC day (of scheduled_at) and status, kept by every write that inserts,
-- deletes or changes the status of an execution (docs/executions.md), so the overview's
-- figures cost one small read however much history is stored. Filled here from what exists.
CREATE TABLE IF NOT EXISTS execution_counts (
    day    DATE        NOT NULL,
    status VARCHAR(16) NOT NULL,
    n      BIGINT      NOT NULL,
    PRIMARY KEY (day, status)
) ENGINE = InnoDB;

INSERT INTO execution_counts (day, status, n)
    SELECT DATE(scheduled_at), status, COUNT(*) FROM executions GROUP BY DATE(scheduled_at), status
    ON DUPLICATE KEY UPDATE n = VALUES(n);
