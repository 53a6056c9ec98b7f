-- How a new threshold on one detector would move the funnel, without rescoring. Parameters: run_id, detector, threshold.
WITH moved AS (
    SELECT
        v.ordinal,
        CASE
            WHEN v.detector <> $detector THEN v.verdict
            WHEN v.score IS NULL THEN 'unknown'
            WHEN v.score > CAST($threshold AS DOUBLE) THEN d.action
            ELSE 'keep'
        END AS verdict,
        v.detector
    FROM verdicts v
    JOIN detectors d ON d.run_id = v.run_id AND d.name = v.detector
    WHERE v.run_id = $run_id
),
fates AS (
    SELECT ordinal, bool_or(verdict = 'drop') AS dropped,
           bool_or(verdict = 'drop' AND detector = $detector) AS dropped_by_it
    FROM moved
    GROUP BY ordinal
)
SELECT
    $detector AS detector,
    CAST($threshold AS DOUBLE) AS threshold,
    count(*) FILTER (WHERE dropped_by_it) AS dropped_by_detector,
    count(*) FILTER (WHERE dropped) AS dropped,
    count(*) FILTER (WHERE NOT dropped) AS kept,
    (SELECT count(*) FROM verdicts
     WHERE run_id = $run_id AND detector = $detector AND verdict = 'drop') AS dropped_before
FROM fates;
