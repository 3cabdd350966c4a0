-- Where a change came from (issue 17): the `X-Crony-Source` header of the request, such as
-- `crony-cli apply`, so the audit log tells a reviewed file's apply from a dashboard edit.
ALTER TABLE audit_log ADD COLUMN source VARCHAR(64) NULL;
