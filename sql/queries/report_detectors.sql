-- A run's detectors: kind, version, params, threshold, fitted metrics, time. Parameters: run_id.
SELECT name, pack, rule_id, kind, version, action, params, threshold, metrics, seconds
FROM detectors
WHERE run_id = $run_id
ORDER BY name;
