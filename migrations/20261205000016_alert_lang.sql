-- The language of a job's email and Feishu alerts (issue 20): `en`, `zh-CN`, or NULL for the
-- cluster's CRONY_ALERT_LANG. The job's JSON spec holds it too (and is what the scheduler
-- reads); the column lets an operator see which jobs alert in which language with plain SQL.
ALTER TABLE jobs ADD COLUMN alert_lang VARCHAR(8) NULL;
