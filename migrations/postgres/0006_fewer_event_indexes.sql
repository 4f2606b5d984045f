-- Every recorded event wrote an entry into `events_by_batch`, and no query reads it:
-- feeds group a batch from `activities.batch_id`. One index fewer per event.
DROP INDEX events_by_batch;
