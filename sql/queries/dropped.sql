-- Dropped rows with every detector that dropped them. Parameters: run_id.
SELECT r.ordinal, r.row_id, f.dropped_by, r.completion
FROM rows r JOIN row_fates f USING (run_id, ordinal)
WHERE r.run_id = $run_id AND f.dropped
ORDER BY r.ordinal;
