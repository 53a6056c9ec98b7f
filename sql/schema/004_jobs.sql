-- Jobs of `subaudit serve`: one row per submitted scan, recorded before it is queued so that
-- a restart keeps queued jobs. The server's single worker claims them one at a time
-- (queued -> running -> succeeded | failed); a job found 'running' when the server starts
-- was cut off by a crash and is marked failed (retry re-queues it). Small table: a primary
-- key costs nothing here and guards the job id.

CREATE SEQUENCE jobs_seq START 1;

CREATE TABLE jobs (
    job_id       VARCHAR PRIMARY KEY,
    seq          BIGINT NOT NULL DEFAULT nextval('jobs_seq'),  -- queue order
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,
    status       VARCHAR NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    request      JSON NOT NULL,       -- the validated scan request (resolved paths), verbatim
    run_id       VARCHAR,             -- runs.run_id of the latest attempt, when known
    error        VARCHAR,
    attempts     INTEGER NOT NULL DEFAULT 0,
    worker_host  VARCHAR,             -- who ran the latest attempt: links a cut-off job to its run
    worker_pid   INTEGER
);
