-- PostgreSQL limits what tenant work sees of `users` to the team's own people with
-- row-level security here. SQLite has none; this keeps the migration numbers aligned.
SELECT 1;
