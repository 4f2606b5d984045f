-- Which canonical form each event was hashed with (src/events/canonical.rs). Every row
-- written before this migration used format 1, and keeps it: its hash never changes.
-- New rows are written with the current format, which the recording code sets.
ALTER TABLE events ADD COLUMN hash_format smallint NOT NULL DEFAULT 1;
