INSERT INTO verdicts (run_id, ordinal, row_id, detector, score, threshold, verdict, reason,
                      reasons)
SELECT $run_id, ordinal, row_id, detector, score, threshold, verdict, reason, reasons
FROM incoming_verdicts;
