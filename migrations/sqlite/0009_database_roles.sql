-- Database roles exist only on PostgreSQL (see migrations/postgres/0009_database_roles.sql).
-- An SQLite file has no logins: whoever can write the file can change anything in it,
-- so on SQLite tamper evidence rests on `chronicle verify` and anchors kept elsewhere.
SELECT 1;
