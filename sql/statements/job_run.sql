-- The run a job's latest attempt started: the worker runs one scan at a time, so it is the
-- first run its process started after the job did. Parameters: job_id.
SELECT r.run_id
FROM jobs j
JOIN runs r ON r.host = j.worker_host AND r.pid = j.worker_pid AND r.started_at >= j.started_at
WHERE j.job_id = $job_id
ORDER BY r.started_at
LIMIT 1;
