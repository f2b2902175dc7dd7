-- Sessions are now stored under the SHA-256 of their id (see server/sessions.rs): rows
-- keyed by a raw id can never be found again, and a raw id in the database is what the
-- change removes. Everyone signs in once more after the upgrade.
DELETE FROM sessions;

-- Sign-in throttling (server/users.rs): one row per user name + address and one per
-- address. An attempt is claimed here before its password is hashed, so concurrent
-- attempts cannot outrun the limit; refusals are counted here, not written to the audit
-- log one by one.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    next_allowed_at BIGINT NOT NULL,
    refused BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE INDEX login_throttle_updated ON login_throttle (updated_at);
