-- Background jobs, one row per job: recurring ones (file collection, the
-- resume of stopped moves) and one-shot ones (a move to drive, a move's
-- cleanup). A process runs a job while it holds the job's lease (its
-- `holder` and `lease_until_ms`, by the catalog's clock), so a job runs in
-- one process of the fleet at a time; a lease that runs out while the job
-- is `running` means its process stopped, and the next claim retries it.
CREATE TABLE jobs (
    name           text PRIMARY KEY,
    kind           text NOT NULL,
    subject        text,
    state          text NOT NULL CHECK (state IN ('scheduled', 'running', 'done', 'failed')),
    every_ms       bigint,
    next_run_ms    bigint NOT NULL,
    last_run_ms    bigint,
    last_ok_ms     bigint,
    failures       integer NOT NULL DEFAULT 0,
    last_error     text,
    holder         text,
    lease_until_ms bigint NOT NULL DEFAULT 0,
    created_ms     bigint NOT NULL,
    updated_ms     bigint NOT NULL
);
CREATE INDEX jobs_due ON jobs (next_run_ms) WHERE state IN ('scheduled', 'running');
