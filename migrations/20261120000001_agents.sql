-- Every agent a scheduler has ever seen, with its last known state.
CREATE TABLE IF NOT EXISTS agents (
    id           VARCHAR(64)  NOT NULL PRIMARY KEY,
    grpc_addr    VARCHAR(255) NOT NULL,
    hostname     VARCHAR(255) NOT NULL,
    weight       INT UNSIGNED NOT NULL,
    labels       TEXT         NOT NULL, -- JSON object
    version      VARCHAR(64)  NOT NULL,
    allow_shell  BOOLEAN      NOT NULL,
    started_at   VARCHAR(64)  NOT NULL,
    state        ENUM('online', 'offline') NOT NULL,
    first_seen   DATETIME(3)  NOT NULL,
    last_seen    DATETIME(3)  NOT NULL,
    KEY agents_state (state)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
