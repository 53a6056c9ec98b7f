-- Gate outcomes (`subaudit gate`): one row per gate of a run against a suite. The results
-- JSON is the `gate --json` contract verbatim (every expectation's outcome, failing row ids).

CREATE TABLE gates (
    gate_id           VARCHAR PRIMARY KEY,
    run_id            VARCHAR NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    suite             VARCHAR NOT NULL,   -- the suite's [suite] name
    suite_version     VARCHAR NOT NULL,
    suite_path        VARCHAR NOT NULL,
    suite_sha256      VARCHAR NOT NULL,   -- sha256 of the suite file's bytes
    passed            BOOLEAN NOT NULL,
    n_passed          INTEGER NOT NULL,
    n_failed          INTEGER NOT NULL,
    n_skipped         INTEGER NOT NULL,
    results           JSON NOT NULL,
    docs_uri          VARCHAR,            -- Data Docs index page, with `--docs`
    seconds           DOUBLE,
    subaudit_version  VARCHAR NOT NULL,
    gx_version        VARCHAR NOT NULL
);
