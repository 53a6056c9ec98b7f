INSERT INTO quarantine (run_id, ordinal, line, raw, error)
SELECT $run_id, ordinal, line, raw, error FROM incoming_quarantine;
