-- The latest transfer check linked to a run (succeeded ones first). Parameters: run_id.
SELECT experiment_id, status, created_at, finished_at, world, trait, run_id, control_run_id,
       seeds, verdict, verdict_reason, efficacy, efficacy_low, efficacy_high, result, error
FROM experiments
WHERE run_id = $run_id
ORDER BY status = 'succeeded' DESC, created_at DESC
LIMIT 1;
