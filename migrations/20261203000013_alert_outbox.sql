-- Alert intents (issue 15): one row per happening that may alert (an execution settled, an
-- agent left or came back, a job has nowhere to run), written in the same transaction as the
-- change that causes it. The leader turns rows into `alerts` rows by the rules and deletes each
-- in the transaction that records its alerts, so a crash, a leader change or a MySQL outage
-- between the change and its alert neither loses nor doubles it.
CREATE TABLE IF NOT EXISTS alert_outbox (
    id            BIGINT UNSIGNED   NOT NULL AUTO_INCREMENT PRIMARY KEY,
    -- settled agent_offline agent_online unassigned
    kind          VARCHAR(16)       NOT NULL,
    execution_id  VARCHAR(40)       NULL,
    job_id        VARCHAR(40)       NULL,
    agent_id      VARCHAR(64)       NULL,
    -- The final status, for `settled`.
    status        VARCHAR(16)       NULL,
    happened_at   DATETIME(3)       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
