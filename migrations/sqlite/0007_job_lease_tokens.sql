-- Each claim of a job gets a token of its own; completing, failing, extending or
-- releasing the job needs the token of the claim that currently holds it. (Until now
-- the worker's id stood in for it, so a worker that claimed a job twice could not tell
-- its two copies apart.) `locked_by` stays, naming the worker, for people reading.
ALTER TABLE jobs ADD COLUMN lease_token BLOB;
