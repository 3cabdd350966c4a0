-- Operator settings per agent (PATCH /api/v1/agents/{id}): they outlive agent restarts.
ALTER TABLE agents
    ADD COLUMN weight_override INT UNSIGNED NULL,
    ADD COLUMN drained BOOLEAN NOT NULL DEFAULT FALSE;
