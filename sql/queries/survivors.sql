-- The rows that survived every drop rule. Parameters: run_id.
SELECT ordinal, row_id, flagged_by, prompt, completion
FROM survivors
WHERE run_id = $run_id
ORDER BY ordinal;
