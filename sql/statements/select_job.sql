-- One job, columns in a fixed order (audit/server/jobs.py reads them by position).
-- Parameters: job_id.
SELECT job_id, status, run_id, error, attempts, CAST(request AS VARCHAR),
       created_at, started_at, finished_at
FROM jobs
WHERE job_id = $job_id;
