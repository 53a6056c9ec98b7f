UPDATE detectors
SET seconds = $seconds, threshold = $threshold, metrics = $metrics::JSON
WHERE run_id = $run_id AND name = $name;
