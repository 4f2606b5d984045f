-- People, sign-in, sessions, memberships and invitations. Times in the new tables are
-- integer microseconds since the Unix epoch, as in `jobs`. (PostgreSQL also gets
-- row-level security here; SQLite has none — there the account filter in every engine
-- query is the one lock.)

-- A person, across all the teams they belong to. Global, not tenant-owned.
CREATE TABLE users (
    id          BLOB NOT NULL PRIMARY KEY,
    email       TEXT NOT NULL UNIQUE,        -- normalised: trimmed, lower-case
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- One row per sign-in request: token and code stored only as SHA-256 hashes.
CREATE TABLE sign_in_tokens (
    id             BLOB NOT NULL PRIMARY KEY,
    email          TEXT NOT NULL,
    token_hash     BLOB NOT NULL UNIQUE,
    code_hash      BLOB NOT NULL,
    code_attempts  INTEGER NOT NULL DEFAULT 0,
    ip_hash        BLOB,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
) STRICT;
CREATE INDEX sign_in_tokens_by_email ON sign_in_tokens (email, created_at);
CREATE INDEX sign_in_tokens_by_ip ON sign_in_tokens (ip_hash, created_at);

-- A signed-in browser. The cookie holds the token; only its hash is stored.
CREATE TABLE sessions (
    id          BLOB NOT NULL PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    user_id     BLOB NOT NULL REFERENCES users (id),
    user_agent  TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE members (
    account_id  BLOB NOT NULL REFERENCES accounts (id),
    user_id     BLOB NOT NULL REFERENCES users (id),
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, user_id)
) STRICT;
CREATE INDEX members_by_user ON members (user_id);

CREATE TABLE invitations (
    account_id       BLOB NOT NULL REFERENCES accounts (id),
    id               BLOB NOT NULL,
    email            TEXT NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    invited_by       BLOB NOT NULL,
    invited_by_name  TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    accepted_at      INTEGER,
    revoked_at       INTEGER,
    PRIMARY KEY (account_id, id)
) STRICT;
CREATE UNIQUE INDEX invitations_one_open ON invitations (account_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_by_email ON invitations (email);

CREATE TABLE mail_outbox (
    id          BLOB NOT NULL PRIMARY KEY,
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    sent_at     INTEGER
) STRICT;
CREATE INDEX mail_outbox_recent ON mail_outbox (created_at);
