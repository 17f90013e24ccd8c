CREATE TABLE IF NOT EXISTS projects (
    name TEXT PRIMARY KEY,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commits (
    id TEXT PRIMARY KEY,            -- sha256 of the canonical snapshot
    project TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    parent TEXT,
    snapshot TEXT NOT NULL,         -- pipeline JSON: graph, attributes, sources
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    status TEXT NOT NULL,
    debug INTEGER NOT NULL,
    commit_id TEXT NOT NULL REFERENCES commits(id),
    compute TEXT NOT NULL,          -- {"backend", "config"} without secrets
    storage TEXT NOT NULL,
    needs_secrets INTEGER NOT NULL, -- credentials that were held in memory only
    error TEXT,
    created TEXT NOT NULL,
    started TEXT,
    ended TEXT,
    owner TEXT,                     -- "pid:start-time" of the engine running it
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    params TEXT NOT NULL DEFAULT '{}', -- attribute overrides given at submit, {"op.attr": value}
    UNIQUE (project, name)
);
CREATE INDEX IF NOT EXISTS executions_by_project ON executions (project, id);
CREATE INDEX IF NOT EXISTS executions_by_pipeline ON executions (project, pipeline, id);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status, id);
CREATE INDEX IF NOT EXISTS commits_by_pipeline ON commits (project, pipeline, created);
CREATE TABLE IF NOT EXISTS tags (
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    commit_id TEXT NOT NULL REFERENCES commits(id),
    execution_id INTEGER REFERENCES executions(id) ON DELETE SET NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (project, name)
);
CREATE TABLE IF NOT EXISTS jobs (
    execution_id INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    operation TEXT,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    started TEXT,
    ended TEXT,
    exit_code INTEGER,
    error TEXT,
    traceback TEXT,
    outputs TEXT NOT NULL DEFAULT '[]',
    pid INTEGER,
    pid_started REAL,
    figures TEXT NOT NULL DEFAULT '[]', -- [{"index", "mime", "location"}] drawn by the operation
    PRIMARY KEY (execution_id, node)
);
CREATE TABLE IF NOT EXISTS name_counters ( -- the last number given after each execution name
    project TEXT NOT NULL,
    base TEXT NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (project, base)
);
CREATE TABLE IF NOT EXISTS attempts (     -- every run of a job, kept when it runs again
    execution_id INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    started TEXT,
    ended TEXT,
    exit_code INTEGER,
    error TEXT,
    PRIMARY KEY (execution_id, node, attempt)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id INTEGER NOT NULL,
    project TEXT NOT NULL,
    execution TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_execution ON events (execution_id, seq);
CREATE TABLE IF NOT EXISTS settings (
    project TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    data TEXT NOT NULL,
    updated TEXT NOT NULL,
    PRIMARY KEY (project, pipeline)
);
CREATE TABLE IF NOT EXISTS artifacts (
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    backend TEXT NOT NULL,
    config TEXT NOT NULL,           -- backend configuration without secrets
    path TEXT NOT NULL,
    type TEXT NOT NULL,
    size INTEGER NOT NULL,
    created TEXT NOT NULL,
    execution TEXT,                 -- provenance: the execution and node that wrote it
    node TEXT,
    PRIMARY KEY (project, name)
);
