-- API tokens belong to the account that made them (issue 13): a token of a disabled or deleted
-- account stops working, and never acts above its owner's current role. NULL: owned by the
-- configuration (CRONY_ADMIN_TOKEN) or made before owners were recorded by another token.
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS owner_user_id BIGINT UNSIGNED NULL;
ALTER TABLE api_tokens ADD KEY IF NOT EXISTS api_tokens_owner (owner_user_id);

-- Tokens made by a signed-in user before this recorded `created_by` = the user name.
UPDATE api_tokens t JOIN users u ON u.username = t.created_by
SET t.owner_user_id = u.id
WHERE t.owner_user_id IS NULL;
