-- The do-not-call list: numbers no campaign may ever dial (checked when contacts are
-- imported and again at dial time). One row per number, in E.164.
CREATE TABLE do_not_call (
    e164        TEXT PRIMARY KEY,
    -- How it got here: 'added' (by hand), 'imported' (from a CSV), 'opted_out' (the
    -- callee asked during a call).
    source      TEXT NOT NULL CHECK (source IN ('added', 'imported', 'opted_out')),
    note        TEXT NOT NULL DEFAULT '',
    added_by    TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX do_not_call_created ON do_not_call (created_at);
