-- Calls placed by "Test inbound route" (the sandbox's simulated call) are marked, so the
-- calls list and the overview's figures can leave them out.
ALTER TABLE call_sessions ADD COLUMN is_test BIGINT NOT NULL DEFAULT 0;
