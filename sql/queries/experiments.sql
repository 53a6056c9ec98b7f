-- Every trait-transfer check, newest first, with its verdict and cleaning efficacy.
SELECT experiment_id, status, created_at, world, trait, run_id, control_run_id,
       json_array_length(seeds) AS n_seeds, verdict, efficacy, efficacy_low, efficacy_high,
       verdict_reason, error
FROM experiments
ORDER BY created_at DESC;
