INSERT INTO runs (run_id, started_at, status, input_uri, input_format, input_bytes, packs,
                  config, config_sha256, out_uri, rejected_uri, subaudit_version, host, pid)
VALUES ($run_id, now(), 'running', $input_uri, $input_format, $input_bytes, $packs::JSON,
        $config::JSON, $config_sha256, $out_uri, $rejected_uri, $subaudit_version, $host, $pid);
