-- Tenant work may see only the people of its own team (names and addresses for member
-- lists, assignees, subscribers), not every person on the server.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY team_members ON users
    USING (EXISTS (SELECT 1 FROM members m
                   WHERE m.user_id = users.id
                     AND m.account_id = chronicle_current_account()));
