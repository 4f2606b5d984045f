-- Two logins, so the application's own login cannot rewrite its history.
--
-- Migrations run as the owner of the tables (CHRONICLE_MIGRATE_DATABASE_URL, or the one
-- DATABASE_URL in a development set-up). A server may connect as a login that is only
-- a member of `chronicle_serving`: it can do everything a running Chronicle does, and
-- on the log (`events`, `event_chains`) only add rows and advance a chain's head. It
-- does not own the tables, so it cannot ALTER them, disable their triggers, drop or
-- truncate them. The tenant role loses the same rights on the log.
--
-- Roles are cluster-wide: another database, or a concurrent migration, may have made
-- this one already.
DO $$
BEGIN
    -- Checked first, so a second database's migration does not try to make it again.
    -- The login running this needs CREATEROLE (or to be a superuser): it also grants
    -- roles below.
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chronicle_serving') THEN
        CREATE ROLE chronicle_serving NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- Tenant work switches to `chronicle_tenant` inside its transactions.
DO $$
BEGIN
    GRANT chronicle_tenant TO chronicle_serving;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- The owner serves too in a single-login set-up; being a member of `chronicle_serving`
-- is what lets it through the policies below once they are forced on it.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT chronicle_serving TO %I', current_user);
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO chronicle_serving;
-- /healthz and the start-up check read which migrations are applied.
GRANT SELECT ON _sqlx_migrations TO chronicle_serving;

DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT c.relname FROM pg_class c
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
               AND c.relname NOT IN ('events', 'event_chains', '_sqlx_migrations')
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO chronicle_serving', t);
    END LOOP;
END
$$;

-- The log: add and read; a chain's head moves forward (the recording code checks that it
-- only ever moves to the sequence and hash of the row it just inserted).
GRANT SELECT, INSERT ON events TO chronicle_serving;
GRANT SELECT, INSERT ON event_chains TO chronicle_serving;
GRANT UPDATE (last_sequence, last_hash) ON event_chains TO chronicle_serving;

REVOKE UPDATE, DELETE, TRUNCATE ON events FROM chronicle_tenant;
REVOKE UPDATE, DELETE, TRUNCATE ON event_chains FROM chronicle_tenant;
GRANT UPDATE (last_sequence, last_hash) ON event_chains TO chronicle_tenant;

-- Tables added by later migrations get the serving rights of ordinary tables; a later
-- migration that adds to the log must revoke them, as this one does for `events`.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO chronicle_serving;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO chronicle_serving;

-- Row-level security decides every access, the owner's included: cross-account work
-- (queue workers, sign-in, verify, replay) is let through by a policy for
-- `chronicle_serving`, not by owning the table. Tenant work (`chronicle_tenant`, which is
-- not a member of `chronicle_serving`) still sees only its account's rows.
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT c.relname FROM pg_class c
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
               AND c.relrowsecurity
    LOOP
        EXECUTE format('CREATE POLICY cross_account_work ON %I TO chronicle_serving '
                       'USING (true) WITH CHECK (true)', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;
