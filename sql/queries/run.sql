-- One run's summary. Parameters: run_id.
SELECT * FROM runs WHERE run_id = $run_id;
