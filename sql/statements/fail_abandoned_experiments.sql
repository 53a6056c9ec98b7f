-- A transfer check holds the ledger open for writing from start to finish, so a check still
-- marked 'running' when another writer opens the file belongs to a process that died.
UPDATE experiments
SET finished_at = now(), status = 'failed',
    error = 'abandoned: the checking process ended without finishing (killed or crashed)'
WHERE status = 'running'
RETURNING experiment_id;
