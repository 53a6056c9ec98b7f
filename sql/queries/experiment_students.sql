-- One check's students: trait probability per condition and seed. Parameters: experiment_id.
SELECT condition, seed, init, rows_trained, trait_probability, trait_sampled_rate, seconds,
       data_sha256
FROM experiment_students
WHERE experiment_id = $experiment_id
ORDER BY condition, seed;
