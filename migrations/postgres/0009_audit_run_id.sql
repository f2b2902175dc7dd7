-- The provisioning run an audit row belongs to, so the audit log shows one row per run
-- with its steps beneath. Every provisioning row names its run at the start of its
-- detail ("run <uuid>: …", "run <uuid> step 2 …", "run <uuid> (assign)"); rows written
-- before this column existed take the id from there. A route test is not part of a run.
ALTER TABLE audit_log ADD COLUMN run_id TEXT;

UPDATE audit_log SET run_id = substr(detail, 5, 36)
WHERE action LIKE 'provisioning.%'
  AND action <> 'provisioning.route_test'
  AND detail LIKE 'run %'
  AND length(detail) >= 40
  AND (length(detail) = 40 OR substr(detail, 41, 1) IN (' ', ':'));

CREATE INDEX audit_run ON audit_log (run_id, id);
