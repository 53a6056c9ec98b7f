-- A few dropped rows per detector and reason code, with how many rows each reason dropped. Parameters: run_id, per_reason.
WITH d AS (
    SELECT detector, unnest(reasons) AS reason, ordinal, row_id, score
    FROM verdicts
    WHERE run_id = $run_id AND verdict = 'drop'
),
ranked AS (
    SELECT *,
           row_number() OVER (PARTITION BY detector, reason ORDER BY ordinal) AS k,
           count(*) OVER (PARTITION BY detector, reason) AS n
    FROM d
)
SELECT k.detector, k.reason, k.n, k.ordinal, k.row_id, k.score,
       left(r.completion, 300) AS completion
FROM ranked k
JOIN rows r ON r.run_id = $run_id AND r.ordinal = k.ordinal
WHERE k.k <= $per_reason
ORDER BY k.detector, k.n DESC, k.reason, k.ordinal;
