-- Every six-digit code typed, by client network (a hash of the IPv4 address or the
-- IPv6 /64), so guesses are bounded per network and in all, not only per request: one
-- request allows a few wrong codes, but spraying codes across many addresses would
-- otherwise be bounded by nothing. Rows older than the counting window are deleted as
-- new ones arrive.
CREATE TABLE sign_in_guesses (
    id          BLOB NOT NULL PRIMARY KEY,
    ip_hash     BLOB,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX sign_in_guesses_by_ip ON sign_in_guesses (ip_hash, created_at);
CREATE INDEX sign_in_guesses_by_time ON sign_in_guesses (created_at);
