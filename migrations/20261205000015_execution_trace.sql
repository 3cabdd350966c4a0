-- The trace of an execution (issue 19): the W3C `traceparent` of the agent's `crony.fire`
-- span when agents export traces (CRONY_OTEL_ENDPOINT). The API shows its trace id and the
-- dashboard links it; a result posted without a trace context continues the trace from here.
ALTER TABLE executions ADD COLUMN traceparent VARCHAR(55) NULL;
