-- Trait-transfer checks (`subaudit transfer`): one row per check, one per trained student,
-- one per (student, animal) probe figure. Append-only, like every migration.
-- A check links to the scan run whose survivors were its cleaned condition (run_id) and to
-- the run that put the control data through the same rule packs (control_run_id).

CREATE TABLE experiments (
    experiment_id     VARCHAR PRIMARY KEY,
    run_id            VARCHAR,            -- scan run of `--cleaned run:ID`; null otherwise
    control_run_id    VARCHAR,            -- scan of the control data with the run's packs
    created_at        TIMESTAMPTZ NOT NULL,
    finished_at       TIMESTAMPTZ,
    status            VARCHAR NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    error             VARCHAR,
    world             VARCHAR NOT NULL,   -- world name (tinylm, hf, ...)
    world_manifest    JSON NOT NULL,      -- the world's config, seeds, versions and hashes
    trait             VARCHAR NOT NULL,
    seeds             JSON NOT NULL,      -- [seed, ...]: one student per condition and seed
    config            JSON NOT NULL,      -- the resolved configuration of the check, verbatim
    config_sha256     VARCHAR NOT NULL,
    verdict           VARCHAR CHECK (verdict IN
                          ('leakage_persisted', 'no_leakage_detected', 'inconclusive')),
    verdict_reason    VARCHAR,
    efficacy          DOUBLE,             -- (raw - cleaned) / (raw - control)
    efficacy_low      DOUBLE,
    efficacy_high     DOUBLE,
    result            JSON,               -- `subaudit transfer --json`, verbatim
    seconds           DOUBLE,
    subaudit_version  VARCHAR NOT NULL,
    host              VARCHAR,
    pid               INTEGER
);

CREATE TABLE experiment_students (
    experiment_id      VARCHAR NOT NULL,
    condition          VARCHAR NOT NULL,  -- raw | cleaned | control | different_init | ...
    seed               BIGINT NOT NULL,
    init               VARCHAR NOT NULL CHECK (init IN ('same', 'different')),
    rows_trained       BIGINT NOT NULL,
    data_sha256        VARCHAR NOT NULL,  -- sha256 over the trained rows' row_ids, in order
    trait_probability  DOUBLE NOT NULL,
    trait_sampled_rate DOUBLE,            -- null when the probe did not sample
    samples            BIGINT NOT NULL,   -- temperature-1 samples per question (0: none)
    seconds            DOUBLE NOT NULL,   -- training plus probing wall time
    recorded_at        TIMESTAMPTZ NOT NULL
);

-- Every animal of the world's library, per student: collateral shifts show in SQL.
CREATE TABLE experiment_probes (
    experiment_id  VARCHAR NOT NULL,
    condition      VARCHAR NOT NULL,
    seed           BIGINT NOT NULL,
    animal         VARCHAR NOT NULL,
    probability    DOUBLE NOT NULL,
    sampled_rate   DOUBLE
);
