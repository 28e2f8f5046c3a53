-- Work the server does on its own, claimed by one instance at a time (CLEARSESSIONS_INTERVAL):
-- an instance runs it only when its conditional UPDATE moves `started_at` (seconds since the
-- epoch) on from a run at least one interval old, so of instances that tick together one runs.
CREATE TABLE scheduled_runs (
    name TEXT PRIMARY KEY NOT NULL,
    started_at BIGINT NOT NULL
);
INSERT INTO scheduled_runs (name, started_at) VALUES ('clearsessions', 0);
