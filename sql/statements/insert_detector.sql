INSERT INTO detectors (run_id, name, pack, rule_id, kind, version, action, params, threshold,
                       metrics, seconds)
VALUES ($run_id, $name, $pack, $rule_id, $kind, $version, $action, $params::JSON, $threshold,
        $metrics::JSON, NULL);
