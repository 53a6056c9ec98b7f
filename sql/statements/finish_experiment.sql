UPDATE experiments
SET finished_at = now(), status = 'succeeded', verdict = $verdict,
    verdict_reason = $verdict_reason, efficacy = $efficacy, efficacy_low = $efficacy_low,
    efficacy_high = $efficacy_high, result = $result::JSON, seconds = $seconds
WHERE experiment_id = $experiment_id;
