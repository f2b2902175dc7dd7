-- Users, sessions, settings and the audit log. Times are epoch seconds, ids are UUID text,
-- booleans are INTEGER 0/1 (readable through sqlx's Any driver on both backends).

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'owner')),
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    last_login_at BIGINT
);

-- Single-use markers and small facts about this installation (e.g. first-run done).
CREATE TABLE app_state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id      TEXT PRIMARY KEY,
    user_id TEXT,
    data    TEXT NOT NULL,
    expiry  BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expiry);

-- One row ('default'). Secrets are AES-256-GCM ciphertexts bound to table, column and row.
CREATE TABLE twilio_config (
    id                TEXT PRIMARY KEY,
    account_sid       TEXT,
    auth_token        TEXT,
    sip_address       TEXT,
    sip_username      TEXT,
    sip_password      TEXT,
    public_url        TEXT,
    last_test_ok      INTEGER,
    last_test_message TEXT,
    last_test_at      BIGINT,
    updated_at        BIGINT NOT NULL,
    updated_by        TEXT
);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         BIGINT NOT NULL,
    actor_id   TEXT,
    actor_name TEXT,
    action     TEXT NOT NULL,
    target     TEXT,
    detail     TEXT,
    ip         TEXT
);
CREATE INDEX audit_action_target ON audit_log (action, target, id);
CREATE INDEX audit_action_ip ON audit_log (action, ip, id);
