-- A scan run's status and the rule packs it ran with, for `transfer --cleaned run:ID`.
SELECT status, config -> 'packs' AS packs, config -> 'input' AS input
FROM runs
WHERE run_id = $run_id;
