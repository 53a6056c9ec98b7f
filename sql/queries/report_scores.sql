-- Score histogram per detector: $bins equal bins from its min to max score, drops apart. Parameters: run_id, bins.
WITH s AS (
    SELECT detector, score, verdict
    FROM verdicts
    WHERE run_id = $run_id AND score IS NOT NULL AND isfinite(score)
),
r AS (
    SELECT detector, min(score) AS lo, max(score) AS hi FROM s GROUP BY detector
)
SELECT
    s.detector,
    r.lo,
    r.hi,
    CASE WHEN r.hi = r.lo THEN 0
         ELSE least(CAST(floor((s.score - r.lo) / (r.hi - r.lo) * $bins) AS BIGINT),
                    CAST($bins AS BIGINT) - 1)
    END AS bin,
    count(*) AS n,
    count(*) FILTER (WHERE s.verdict IN ('drop', 'flag')) AS fired
FROM s JOIN r USING (detector)
GROUP BY ALL
ORDER BY s.detector, bin;
