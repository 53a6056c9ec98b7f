-- One check's mean probe per condition and animal (collateral shifts). Parameters: experiment_id.
SELECT condition, animal, avg(probability) AS mean_probability,
       avg(sampled_rate) AS mean_sampled_rate, count(*) AS students
FROM experiment_probes
WHERE experiment_id = $experiment_id
GROUP BY condition, animal
ORDER BY animal, condition;
