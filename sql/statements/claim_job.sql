-- The worker takes the oldest queued job. The status guard makes the claim a no-op if the
-- job is no longer queued, so no job is ever started twice. Parameters: worker_host, worker_pid.
UPDATE jobs
SET status = 'running', started_at = now(), finished_at = NULL, error = NULL, run_id = NULL,
    attempts = attempts + 1, worker_host = $worker_host, worker_pid = $worker_pid
WHERE job_id = (SELECT job_id FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1)
  AND status = 'queued'
RETURNING job_id, CAST(request AS VARCHAR), attempts;
