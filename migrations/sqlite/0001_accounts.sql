-- Accounts are the tenants: every tenant-owned table carries account_id.
CREATE TABLE accounts (
    id          BLOB NOT NULL PRIMARY KEY,      -- UUID v7, 16 bytes
    slug        TEXT NOT NULL UNIQUE,           -- URL segment: /<slug>/…
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL                   -- RFC 3339, UTC
) STRICT;
