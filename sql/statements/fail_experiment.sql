UPDATE experiments
SET finished_at = now(), status = 'failed', error = $error
WHERE experiment_id = $experiment_id;
