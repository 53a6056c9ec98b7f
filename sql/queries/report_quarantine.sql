-- Quarantined rows grouped by error, with the first line and an example. Parameters: run_id.
SELECT error, count(*) AS n, min(line) AS first_line, arg_min(left(raw, 200), ordinal) AS example
FROM quarantine
WHERE run_id = $run_id
GROUP BY error
ORDER BY n DESC, error
LIMIT 20;
