-- The event log, its per-account chain heads, the activity projection, card threads,
-- the job queue and inbox receipts. The queue's timestamps are integer microseconds
-- since the Unix epoch, as on SQLite (compared on a hot path, bound from Rust).

-- One row per account: the last sequence number and hash of its event chain. Recording
-- locks this row (SELECT … FOR UPDATE) and advances it in the same transaction, so
-- sequences commit in order: a later number can never become visible before an earlier.
CREATE TABLE event_chains (
    account_id     uuid PRIMARY KEY REFERENCES accounts (id),
    last_sequence  bigint NOT NULL,
    last_hash      bytea NOT NULL
);

INSERT INTO event_chains (account_id, last_sequence, last_hash)
SELECT id, 0, decode(repeat('00', 32), 'hex') FROM accounts;

-- The append-only log. (account_id, sequence) is gap-free per account.
CREATE TABLE events (
    account_id      uuid NOT NULL,
    sequence        bigint NOT NULL,
    id              uuid NOT NULL UNIQUE,
    event_type      text NOT NULL,
    schema_version  integer NOT NULL,
    subject_kind    text NOT NULL,
    subject_id      uuid NOT NULL,
    project_id      uuid,
    board_id        uuid,
    card_id         uuid,
    actor_id        uuid,
    actor_name      text NOT NULL,
    data            jsonb NOT NULL,
    metadata        jsonb NOT NULL,
    batch_id        uuid,
    snapshot        jsonb,
    created_at      timestamptz NOT NULL,
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL,
    PRIMARY KEY (account_id, sequence)
);

CREATE INDEX events_by_subject ON events (account_id, subject_id, sequence);
CREATE INDEX events_by_batch ON events (account_id, batch_id) WHERE batch_id IS NOT NULL;

CREATE FUNCTION chronicle_reject_event_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_reject_change BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION chronicle_reject_event_change();
CREATE TRIGGER events_reject_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION chronicle_reject_event_change();

-- One row per user-facing event, scoped for the feeds; rebuildable from the log.
CREATE TABLE activities (
    account_id    uuid NOT NULL,
    sequence      bigint NOT NULL,
    event_id      uuid NOT NULL,
    event_type    text NOT NULL,
    subject_kind  text NOT NULL,
    subject_id    uuid NOT NULL,
    project_id    uuid,
    board_id      uuid,
    card_id       uuid,
    creator_id    uuid,
    batch_id      uuid,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, sequence)
);

CREATE INDEX activities_by_project ON activities (account_id, project_id, sequence);
CREATE INDEX activities_by_board ON activities (account_id, board_id, sequence);
CREATE INDEX activities_by_card ON activities (account_id, card_id, sequence);
CREATE INDEX activities_by_creator ON activities (account_id, creator_id, sequence);

-- A card's thread: people's comments and the system messages the card-thread inbox
-- posts when something happens to the card.
CREATE TABLE comments (
    account_id      uuid NOT NULL,
    id              uuid NOT NULL,
    card_id         uuid NOT NULL,
    author_id       uuid,
    author_name     text NOT NULL,
    body            text NOT NULL,
    system          boolean NOT NULL DEFAULT false,
    event_sequence  bigint,
    created_at      timestamptz NOT NULL,
    edited_at       timestamptz,
    deleted_at      timestamptz,
    PRIMARY KEY (account_id, id)
);

CREATE INDEX comments_by_card ON comments (account_id, card_id, created_at);

-- The job queue. A job is ready when state = 'ready', run_at has passed and it holds
-- no live lease (locked_until in the past or NULL).
CREATE TABLE jobs (
    id            uuid PRIMARY KEY,
    kind          text NOT NULL,
    payload       jsonb NOT NULL,
    account_id    uuid,
    state         text NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'dead')),
    run_at        bigint NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    max_attempts  integer NOT NULL,
    locked_until  bigint,
    locked_by     text,
    last_error    text,
    unique_key    text UNIQUE,
    created_at    bigint NOT NULL
);

CREATE INDEX jobs_ready ON jobs (run_at) WHERE state = 'ready';
CREATE INDEX jobs_dead ON jobs (kind, created_at) WHERE state = 'dead';

-- One receipt per inbox and event: a handler that runs twice does its work once.
CREATE TABLE inbox_receipts (
    inbox       text NOT NULL,
    account_id  uuid NOT NULL,
    sequence    bigint NOT NULL,
    handled_at  bigint NOT NULL,
    PRIMARY KEY (inbox, account_id, sequence)
);
