UPDATE runs
SET finished_at = now(), status = 'failed', error = $error
WHERE run_id = $run_id AND status = 'running';
