UPDATE runs
SET finished_at = now(), status = 'succeeded', input_sha256 = $input_sha256,
    rows_in = $rows_in, kept = $kept, dropped = $dropped, flagged = $flagged,
    quarantined = $quarantined
WHERE run_id = $run_id AND status = 'running';
