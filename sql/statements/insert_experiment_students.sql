-- incoming_students: an Arrow table registered by the ledger for this one statement.
INSERT INTO experiment_students (experiment_id, condition, seed, init, rows_trained,
                                 data_sha256, trait_probability, trait_sampled_rate, samples,
                                 seconds, recorded_at)
SELECT $experiment_id, condition, seed, init, rows_trained, data_sha256, trait_probability,
       trait_sampled_rate, samples, seconds, now()
FROM incoming_students;
