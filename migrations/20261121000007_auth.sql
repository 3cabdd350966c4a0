-- Accounts, API tokens, sessions and a fuller audit log (issue 7).
CREATE TABLE IF NOT EXISTS users (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username      VARCHAR(64)     NOT NULL,
    password_hash VARCHAR(255)    NOT NULL, -- argon2id PHC string
    role          VARCHAR(16)     NOT NULL,
    disabled      BOOLEAN         NOT NULL DEFAULT FALSE,
    created_at    DATETIME(3)     NOT NULL,
    updated_at    DATETIME(3)     NOT NULL,
    last_login_at DATETIME(3)     NULL,
    UNIQUE KEY users_username (username)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Tokens are random 192-bit strings, so a SHA-256 of them is enough to store (no salt needed:
-- nothing to guess). Revoked tokens are kept for the audit trail.
CREATE TABLE IF NOT EXISTS api_tokens (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name         VARCHAR(64)     NOT NULL,
    role         VARCHAR(16)     NOT NULL,
    token_hash   CHAR(64)        NOT NULL,
    prefix       VARCHAR(16)     NOT NULL,
    created_by   VARCHAR(128)    NOT NULL,
    created_at   DATETIME(3)     NOT NULL,
    expires_at   DATETIME(3)     NULL,
    last_used_at DATETIME(3)     NULL,
    revoked_at   DATETIME(3)     NULL,
    UNIQUE KEY api_tokens_hash (token_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Dashboard sessions, in MySQL so any scheduler behind a load balancer knows them.
CREATE TABLE IF NOT EXISTS sessions (
    id_hash    CHAR(64)        NOT NULL PRIMARY KEY,
    user_id    BIGINT UNSIGNED NOT NULL,
    csrf_token VARCHAR(64)     NOT NULL,
    created_at DATETIME(3)     NOT NULL,
    expires_at DATETIME(3)     NOT NULL,
    KEY sessions_user (user_id),
    KEY sessions_expiry (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- The audit log now names who (kind, id, name), what (target type and id) and the state before
-- and after, for jobs, agents, users, tokens and logins.
ALTER TABLE audit_log
    ADD COLUMN actor_kind   VARCHAR(16)  NOT NULL DEFAULT 'system',
    ADD COLUMN actor_id     VARCHAR(64)  NULL,
    ADD COLUMN target_type  VARCHAR(16)  NOT NULL DEFAULT 'job',
    ADD COLUMN target_id    VARCHAR(64)  NULL,
    ADD COLUMN before_state MEDIUMTEXT   NULL,
    ADD COLUMN after_state  MEDIUMTEXT   NULL,
    ADD COLUMN ip           VARCHAR(64)  NULL,
    MODIFY COLUMN action    VARCHAR(32)  NOT NULL,
    ADD KEY audit_target (target_type, target_id, id),
    ADD KEY audit_action (action, id);
UPDATE audit_log SET target_id = job_id, action = CONCAT('job.', action) WHERE target_id IS NULL;
