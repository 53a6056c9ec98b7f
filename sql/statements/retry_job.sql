-- A failed job goes back to the end of the queue. Parameters: job_id.
UPDATE jobs
SET status = 'queued', seq = nextval('jobs_seq'), started_at = NULL, finished_at = NULL,
    error = NULL, run_id = NULL
WHERE job_id = $job_id AND status = 'failed'
RETURNING job_id;
