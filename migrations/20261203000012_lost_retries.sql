-- A lost execution's retry, owed until it is handed to the job's new agent (design §3.4).
-- Set in the statement that marks the execution lost, so a leader change or a restart does
-- not forget it: whichever scheduler leads next hands it on. `handed` with its time marks a
-- hand-off in progress; one left behind by a leader that died mid-way is owed again unless
-- its retry's row (retry_of) exists.
ALTER TABLE executions ADD COLUMN IF NOT EXISTS retry_state VARCHAR(8) NULL;
ALTER TABLE executions ADD COLUMN IF NOT EXISTS retry_handed_at DATETIME(3) NULL;
CREATE INDEX IF NOT EXISTS executions_retry_state ON executions (retry_state, finished_at);
CREATE INDEX IF NOT EXISTS executions_retry_of ON executions (retry_of);
