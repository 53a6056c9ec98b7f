-- Per detector: rows dropped, rows only it dropped, rows flagged. Parameters: run_id.
SELECT detector, action, dropped, unique_drops, flagged, unknown
FROM funnel
WHERE run_id = $run_id
ORDER BY dropped DESC, detector;
