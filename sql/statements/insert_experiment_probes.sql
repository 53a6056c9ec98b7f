-- incoming_probes: an Arrow table registered by the ledger for this one statement.
INSERT INTO experiment_probes (experiment_id, condition, seed, animal, probability, sampled_rate)
SELECT $experiment_id, condition, seed, animal, probability, sampled_rate
FROM incoming_probes;
