-- Who released a number, as the audit log names them (a user's name, "alice (API key)"),
-- so a released number's page says who and when without searching the log. Numbers
-- released before this column existed take the name from their audit row (the release
-- writes the row in the same transaction, within seconds of released_at).
ALTER TABLE phone_numbers ADD COLUMN released_by TEXT;

UPDATE phone_numbers SET released_by = (
    SELECT a.actor_name FROM audit_log a
    WHERE a.action = 'number.released' AND a.target = phone_numbers.e164
      AND a.at BETWEEN phone_numbers.released_at AND phone_numbers.released_at + 60
    ORDER BY a.id LIMIT 1
)
WHERE released_at IS NOT NULL;
