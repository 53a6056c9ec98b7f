-- A running job ends. Parameters: job_id, status (succeeded | failed), run_id, error.
UPDATE jobs
SET status = $status, finished_at = now(), run_id = $run_id, error = $error
WHERE job_id = $job_id AND status = 'running'
RETURNING job_id;
