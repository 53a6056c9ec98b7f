INSERT INTO gates (gate_id, run_id, created_at, suite, suite_version, suite_path, suite_sha256,
                   passed, n_passed, n_failed, n_skipped, results, docs_uri, seconds,
                   subaudit_version, gx_version)
VALUES ($gate_id, $run_id, $created_at, $suite, $suite_version, $suite_path, $suite_sha256,
        $passed, $n_passed, $n_failed, $n_skipped, $results::JSON, $docs_uri, $seconds,
        $subaudit_version, $gx_version);
