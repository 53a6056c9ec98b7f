-- Co-occurrence of drops: for each pair of detectors, rows both dropped. Parameters: run_id.
SELECT a.detector AS detector_a, b.detector AS detector_b, count(*) AS both_dropped
FROM verdicts a
JOIN verdicts b ON a.run_id = b.run_id AND a.ordinal = b.ordinal AND a.detector <= b.detector
WHERE a.run_id = $run_id AND a.verdict = 'drop' AND b.verdict = 'drop'
GROUP BY ALL
ORDER BY detector_a, detector_b;
