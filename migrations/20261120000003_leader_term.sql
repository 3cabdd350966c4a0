-- The election term of the scheduler allowed to write assignments. A new leader raises it;
-- every assignment write checks it in the same transaction, so a deposed leader that has not
-- noticed yet cannot overwrite its successor's decisions.
CREATE TABLE IF NOT EXISTS leader_term (
    id   TINYINT UNSIGNED NOT NULL PRIMARY KEY,
    term BIGINT UNSIGNED  NOT NULL
) ENGINE = InnoDB;
INSERT IGNORE INTO leader_term (id, term) VALUES (1, 0);
