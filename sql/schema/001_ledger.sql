-- The ledger: one row per run, per input row, per (row, detector) verdict, per quarantined row.
-- Append-only migrations: never edit a released file, add NNN_name.sql instead.
-- No primary keys on the large tables: DuckDB checks them on every insert, which slows the
-- Arrow bulk loads ~5x, and (run_id, ordinal) is unique by construction of the scan.

CREATE TABLE runs (
    run_id            VARCHAR PRIMARY KEY,
    started_at        TIMESTAMPTZ NOT NULL,
    finished_at       TIMESTAMPTZ,
    status            VARCHAR NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    error             VARCHAR,
    input_uri         VARCHAR NOT NULL,
    input_format      VARCHAR NOT NULL,
    input_sha256      VARCHAR,
    input_bytes       BIGINT,
    rows_in           BIGINT,
    kept              BIGINT,
    dropped           BIGINT,
    flagged           BIGINT,
    quarantined       BIGINT,
    packs             JSON NOT NULL,      -- [{name, version, sha256, path}]
    config            JSON NOT NULL,      -- the resolved configuration of the run, verbatim
    config_sha256     VARCHAR NOT NULL,
    out_uri           VARCHAR,
    rejected_uri      VARCHAR,
    subaudit_version  VARCHAR NOT NULL,
    host              VARCHAR,
    pid               INTEGER
);

CREATE TABLE rows (
    run_id      VARCHAR NOT NULL,
    row_id      VARCHAR NOT NULL,         -- content hash: equal content, equal id, across runs
    ordinal     BIGINT NOT NULL,          -- 0-based position in the source
    line        BIGINT,                   -- 1-based line in the source file (null for Parquet)
    source_id   VARCHAR,                  -- the input's own id column, when one was named
    prompt      VARCHAR NOT NULL,
    completion  VARCHAR NOT NULL
);

CREATE TABLE detectors (
    run_id      VARCHAR NOT NULL,
    name        VARCHAR NOT NULL,         -- qualified rule id: pack/rule
    pack        VARCHAR NOT NULL,
    rule_id     VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,         -- registered detector kind
    version     VARCHAR NOT NULL,
    action      VARCHAR NOT NULL CHECK (action IN ('drop', 'flag')),
    params      JSON NOT NULL,
    threshold   DOUBLE,
    metrics     JSON,                     -- fitted run-level metrics (cross-validated AUC...)
    seconds     DOUBLE                    -- wall time spent in this detector
);

CREATE TABLE verdicts (
    run_id      VARCHAR NOT NULL,
    ordinal     BIGINT NOT NULL,
    row_id      VARCHAR NOT NULL,
    detector    VARCHAR NOT NULL,         -- detectors.name
    score       DOUBLE,                   -- null: the detector could not evaluate the row
    threshold   DOUBLE,
    verdict     VARCHAR NOT NULL CHECK (verdict IN ('keep', 'drop', 'flag', 'unknown')),
    reason      VARCHAR,                  -- first reason code (null when keep)
    reasons     VARCHAR[]                 -- every reason code that fired
);

CREATE TABLE quarantine (
    run_id      VARCHAR NOT NULL,
    ordinal     BIGINT NOT NULL,
    line        BIGINT,
    raw         VARCHAR NOT NULL,
    error       VARCHAR NOT NULL
);

-- A row's fate in one place: dropped when any drop verdict fired.
CREATE VIEW row_fates AS
SELECT
    r.run_id,
    r.row_id,
    r.ordinal,
    coalesce(bool_or(v.verdict = 'drop'), false) AS dropped,
    coalesce(bool_or(v.verdict = 'flag'), false) AS flagged,
    list(v.detector ORDER BY v.detector) FILTER (WHERE v.verdict = 'drop') AS dropped_by,
    list(v.detector ORDER BY v.detector) FILTER (WHERE v.verdict = 'flag') AS flagged_by
FROM rows r
LEFT JOIN verdicts v USING (run_id, ordinal)
GROUP BY r.run_id, r.row_id, r.ordinal;

CREATE VIEW survivors AS
SELECT r.*, f.flagged, f.flagged_by
FROM rows r
JOIN row_fates f USING (run_id, ordinal)
WHERE NOT f.dropped;

-- Per detector: rows it dropped (or flagged), and rows only it dropped (unique drops).
CREATE VIEW funnel AS
WITH per_row AS (
    SELECT run_id, ordinal, count(*) FILTER (WHERE verdict = 'drop') AS n_drop
    FROM verdicts
    GROUP BY run_id, ordinal
)
SELECT
    d.run_id,
    d.name AS detector,
    d.action,
    count(v.ordinal) FILTER (WHERE v.verdict = 'drop') AS dropped,
    count(v.ordinal) FILTER (WHERE v.verdict = 'drop' AND p.n_drop = 1) AS unique_drops,
    count(v.ordinal) FILTER (WHERE v.verdict = 'flag') AS flagged,
    count(v.ordinal) FILTER (WHERE v.verdict = 'unknown') AS unknown
FROM detectors d
LEFT JOIN verdicts v ON v.run_id = d.run_id AND v.detector = d.name
LEFT JOIN per_row p ON p.run_id = v.run_id AND p.ordinal = v.ordinal
GROUP BY d.run_id, d.name, d.action;
