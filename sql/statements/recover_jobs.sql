-- At server start: a job still 'running' was cut off (kill -9, crash, power loss); the
-- server holds DuckDB's file lock, so no live process can be running it. If its run
-- (the same worker process started it after the job started) did commit, the job
-- succeeded; otherwise it failed and can be retried. Runs left 'running' were already
-- marked failed when the ledger was opened.
UPDATE jobs AS j
SET status = CASE WHEN r.status = 'succeeded' THEN 'succeeded' ELSE 'failed' END,
    finished_at = coalesce(r.finished_at, now()),
    run_id = r.run_id,
    error = CASE WHEN r.status = 'succeeded' THEN NULL
                 ELSE 'interrupted: the server stopped while this job was running '
                      || '(POST /v1/jobs/' || j.job_id || '/retry to run it again)' END
FROM (
    SELECT j2.job_id, arg_max(r2.run_id, r2.started_at) AS run_id,
           arg_max(r2.status, r2.started_at) AS status,
           arg_max(r2.finished_at, r2.started_at) AS finished_at
    FROM jobs j2
    LEFT JOIN runs r2
      ON r2.host = j2.worker_host AND r2.pid = j2.worker_pid AND r2.started_at >= j2.started_at
    WHERE j2.status = 'running'
    GROUP BY j2.job_id
) AS r
WHERE j.job_id = r.job_id
RETURNING j.job_id, j.status;
