-- Every run, newest first.
SELECT run_id, status, started_at, finished_at, input_uri, rows_in, kept, dropped, flagged,
       quarantined, error
FROM runs
ORDER BY started_at DESC;
