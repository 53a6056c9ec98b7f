-- Whoever opens the ledger for writing holds DuckDB's file lock, so a run still marked
-- 'running' belongs to a process that died without finishing (kill -9, power loss).
UPDATE runs
SET finished_at = now(), status = 'failed',
    error = 'abandoned: the scanning process ended without finishing (killed or crashed)'
WHERE status = 'running'
RETURNING run_id;
