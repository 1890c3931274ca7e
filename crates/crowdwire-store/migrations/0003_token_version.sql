-- Every access token carries the account's token version when it was minted; raising the
-- version (a password change, "sign out everywhere") revokes all older tokens at once.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
