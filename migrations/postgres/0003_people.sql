-- People, sign-in, sessions, memberships and invitations; and row-level security on
-- every tenant table. Times in the new tables are integer microseconds since the Unix
-- epoch, as in `jobs`: compared in SQL (expiry, rate limits) the same way on both engines.

-- A person, across all the teams they belong to. Global, not tenant-owned.
CREATE TABLE users (
    id          uuid PRIMARY KEY,
    email       text NOT NULL UNIQUE,        -- normalised: trimmed, lower-case
    name        text NOT NULL,
    created_at  bigint NOT NULL
);

-- One row per sign-in request: the e-mailed link's token and the short code, both
-- stored only as SHA-256 hashes. Single use (used_at), short-lived (expires_at); the
-- rows double as the rate limiter's memory (per e-mail and per hashed IP).
CREATE TABLE sign_in_tokens (
    id             uuid PRIMARY KEY,
    email          text NOT NULL,
    token_hash     bytea NOT NULL UNIQUE,
    code_hash      bytea NOT NULL,
    code_attempts  integer NOT NULL DEFAULT 0,
    ip_hash        bytea,
    created_at     bigint NOT NULL,
    expires_at     bigint NOT NULL,
    used_at        bigint
);
CREATE INDEX sign_in_tokens_by_email ON sign_in_tokens (email, created_at);
CREATE INDEX sign_in_tokens_by_ip ON sign_in_tokens (ip_hash, created_at);

-- A signed-in browser. The cookie holds the token; only its hash is stored.
CREATE TABLE sessions (
    id          uuid PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,
    user_id     uuid NOT NULL REFERENCES users (id),
    user_agent  text,
    created_at  bigint NOT NULL,
    expires_at  bigint NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Who belongs to which team, with what role. Led by account_id like every tenant table.
CREATE TABLE members (
    account_id  uuid NOT NULL REFERENCES accounts (id),
    user_id     uuid NOT NULL REFERENCES users (id),
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at   bigint NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id);

-- An invitation to a team, accepted by signing in with the invited address.
CREATE TABLE invitations (
    account_id       uuid NOT NULL REFERENCES accounts (id),
    id               uuid NOT NULL,
    email            text NOT NULL,
    role             text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    invited_by       uuid NOT NULL,
    invited_by_name  text NOT NULL,
    created_at       bigint NOT NULL,
    expires_at       bigint NOT NULL,
    accepted_at      bigint,
    revoked_at       bigint,
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX invitations_one_open ON invitations (account_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_by_email ON invitations (email);

-- Every e-mail Chronicle sends, written in the transaction that causes it and delivered
-- by a `mail.deliver` job (SMTP when configured, else the server log). The development
-- mailbox page reads it.
CREATE TABLE mail_outbox (
    id          uuid PRIMARY KEY,
    recipient   text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    created_at  bigint NOT NULL,
    sent_at     bigint
);
CREATE INDEX mail_outbox_recent ON mail_outbox (created_at);

-- Row-level security: the second lock behind every query's account filter.
-- Tenant work runs as `chronicle_tenant` (SET LOCAL ROLE inside its transaction) with
-- `chronicle.account_id` set for that transaction; the policies show and accept only
-- that account's rows, so a query that forgets its filter still sees nothing foreign.
-- Work that spans accounts on purpose (queue workers, verify, replay, sign-in) runs as
-- the connecting role, which owns the tables and is not subject to the policies.
DO $$
BEGIN
    CREATE ROLE chronicle_tenant NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- roles are cluster-wide: another database (or a concurrent migration) made it
END
$$;

DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT chronicle_tenant TO %I', current_user);
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

CREATE FUNCTION chronicle_current_account() RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT NULLIF(current_setting('chronicle.account_id', true), '')::uuid
$$;

ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON accounts
    USING (id = chronicle_current_account())
    WITH CHECK (id = chronicle_current_account());

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['event_chains', 'events', 'activities', 'comments', 'jobs',
                             'inbox_receipts', 'members', 'invitations']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I '
                       'USING (account_id = chronicle_current_account()) '
                       'WITH CHECK (account_id = chronicle_current_account())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO chronicle_tenant', t);
    END LOOP;
END
$$;

GRANT SELECT, UPDATE ON accounts TO chronicle_tenant;
GRANT SELECT ON users TO chronicle_tenant;
-- An account's work may send mail (invitations), never read the outbox.
GRANT INSERT ON mail_outbox TO chronicle_tenant;
