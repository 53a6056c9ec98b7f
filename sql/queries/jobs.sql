-- Jobs of `subaudit serve`, newest first.
SELECT job_id, status, run_id, error, attempts, created_at, started_at, finished_at,
       request ->> 'input' AS input
FROM jobs
ORDER BY seq DESC;
