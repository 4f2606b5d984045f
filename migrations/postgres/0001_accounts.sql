-- Accounts are the tenants: every tenant-owned table carries account_id.
CREATE TABLE accounts (
    id          uuid PRIMARY KEY,               -- UUID v7
    slug        text NOT NULL UNIQUE,           -- URL segment: /<slug>/…
    name        text NOT NULL,
    created_at  timestamptz NOT NULL
);
