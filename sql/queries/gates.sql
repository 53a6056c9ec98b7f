-- Gates of a run against suites, newest first, with their outcome. Parameters: run_id.
SELECT gate_id, created_at, suite, suite_version, suite_sha256, passed, n_passed, n_failed,
       n_skipped, docs_uri, results
FROM gates
WHERE run_id = $run_id
ORDER BY created_at DESC, gate_id DESC;
