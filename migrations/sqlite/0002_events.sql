-- The event log, its per-account chain heads, the activity projection, card threads,
-- the job queue and inbox receipts. Timestamps of domain rows are RFC 3339 text (UTC);
-- the queue's are integer microseconds since the Unix epoch (compared on a hot path).

-- One row per account: the last sequence number and hash of its event chain. Recording
-- takes this row (the per-account lock) and advances it in the same transaction.
CREATE TABLE event_chains (
    account_id     BLOB NOT NULL PRIMARY KEY REFERENCES accounts (id),
    last_sequence  INTEGER NOT NULL,
    last_hash      BLOB NOT NULL
) STRICT;

INSERT INTO event_chains (account_id, last_sequence, last_hash)
SELECT id, 0, zeroblob(32) FROM accounts;

-- The append-only log. (account_id, sequence) is gap-free per account.
CREATE TABLE events (
    account_id      BLOB NOT NULL,
    sequence        INTEGER NOT NULL,
    id              BLOB NOT NULL UNIQUE,
    event_type      TEXT NOT NULL,
    schema_version  INTEGER NOT NULL,
    subject_kind    TEXT NOT NULL,
    subject_id      BLOB NOT NULL,
    project_id      BLOB,
    board_id        BLOB,
    card_id         BLOB,
    actor_id        BLOB,
    actor_name      TEXT NOT NULL,
    data            TEXT NOT NULL,
    metadata        TEXT NOT NULL,
    batch_id        BLOB,
    snapshot        TEXT,
    created_at      TEXT NOT NULL,
    prev_hash       BLOB NOT NULL,
    hash            BLOB NOT NULL,
    PRIMARY KEY (account_id, sequence)
) STRICT;

CREATE INDEX events_by_subject ON events (account_id, subject_id, sequence);
CREATE INDEX events_by_batch ON events (account_id, batch_id) WHERE batch_id IS NOT NULL;

CREATE TRIGGER events_reject_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed');
END;

CREATE TRIGGER events_reject_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed');
END;

-- One row per user-facing event, scoped for the feeds; rebuildable from the log.
CREATE TABLE activities (
    account_id    BLOB NOT NULL,
    sequence      INTEGER NOT NULL,
    event_id      BLOB NOT NULL,
    event_type    TEXT NOT NULL,
    subject_kind  TEXT NOT NULL,
    subject_id    BLOB NOT NULL,
    project_id    BLOB,
    board_id      BLOB,
    card_id       BLOB,
    creator_id    BLOB,
    batch_id      BLOB,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (account_id, sequence)
) STRICT;

CREATE INDEX activities_by_project ON activities (account_id, project_id, sequence);
CREATE INDEX activities_by_board ON activities (account_id, board_id, sequence);
CREATE INDEX activities_by_card ON activities (account_id, card_id, sequence);
CREATE INDEX activities_by_creator ON activities (account_id, creator_id, sequence);

-- A card's thread: people's comments and the system messages the card-thread inbox
-- posts when something happens to the card.
CREATE TABLE comments (
    account_id      BLOB NOT NULL,
    id              BLOB NOT NULL,
    card_id         BLOB NOT NULL,
    author_id       BLOB,
    author_name     TEXT NOT NULL,
    body            TEXT NOT NULL,
    system          INTEGER NOT NULL DEFAULT 0,
    event_sequence  INTEGER,
    created_at      TEXT NOT NULL,
    edited_at       TEXT,
    deleted_at      TEXT,
    PRIMARY KEY (account_id, id)
) STRICT;

CREATE INDEX comments_by_card ON comments (account_id, card_id, created_at);

-- The job queue. A job is ready when state = 'ready', run_at has passed and it holds
-- no live lease (locked_until in the past or NULL).
CREATE TABLE jobs (
    id            BLOB NOT NULL PRIMARY KEY,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    account_id    BLOB,
    state         TEXT NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'dead')),
    run_at        INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    locked_until  INTEGER,
    locked_by     TEXT,
    last_error    TEXT,
    unique_key    TEXT UNIQUE,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX jobs_ready ON jobs (run_at) WHERE state = 'ready';
CREATE INDEX jobs_dead ON jobs (kind, created_at) WHERE state = 'dead';

-- One receipt per inbox and event: a handler that runs twice does its work once.
CREATE TABLE inbox_receipts (
    inbox       TEXT NOT NULL,
    account_id  BLOB NOT NULL,
    sequence    INTEGER NOT NULL,
    handled_at  INTEGER NOT NULL,
    PRIMARY KEY (inbox, account_id, sequence)
) STRICT;
