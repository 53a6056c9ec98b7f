-- Rows that could not be read, with the line and the reason. Parameters: run_id.
SELECT ordinal, line, error, left(raw, 200) AS raw
FROM quarantine
WHERE run_id = $run_id
ORDER BY ordinal;
