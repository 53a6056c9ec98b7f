-- incoming_rows: an Arrow table registered by the ledger for this one statement.
INSERT INTO rows (run_id, row_id, ordinal, line, source_id, prompt, completion)
SELECT $run_id, row_id, ordinal, line, source_id, prompt, completion FROM incoming_rows;
