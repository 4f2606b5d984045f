-- Projects, boards, their columns, cards and card subscriptions. Times are integer
-- microseconds since the Unix epoch. Every table leads with account_id and gets the
-- tenant policy of 0003.

CREATE TABLE projects (
    account_id      uuid NOT NULL REFERENCES accounts (id),
    id              uuid NOT NULL,
    name            text NOT NULL,
    archived_at     bigint,
    archive_reason  text,
    created_by      uuid NOT NULL,
    created_at      bigint NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE boards (
    account_id  uuid NOT NULL,
    id          uuid NOT NULL,
    project_id  uuid NOT NULL,
    name        text NOT NULL,
    created_at  bigint NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, project_id) REFERENCES projects (account_id, id)
);
CREATE INDEX boards_by_project ON boards (account_id, project_id);

-- Columns are kept in a dense order 0..n-1 per board.
CREATE TABLE board_columns (
    account_id  uuid NOT NULL,
    id          uuid NOT NULL,
    board_id    uuid NOT NULL,
    name        text NOT NULL,
    position    integer NOT NULL,
    created_at  bigint NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, board_id) REFERENCES boards (account_id, id)
);
CREATE INDEX board_columns_by_board ON board_columns (account_id, board_id, position);

-- Cards are kept in a dense order 0..n-1 per column (archived cards leave the order).
-- `version` grows with every edit: an edit based on an older version is a conflict.
CREATE TABLE cards (
    account_id   uuid NOT NULL,
    id           uuid NOT NULL,
    board_id     uuid NOT NULL,
    column_id    uuid NOT NULL,
    position     integer NOT NULL,
    title        text NOT NULL,
    description  text NOT NULL DEFAULT '',
    assignee_id  uuid,
    due_date     text,                        -- YYYY-MM-DD
    status       text NOT NULL DEFAULT 'open',
    version      integer NOT NULL DEFAULT 1,
    archived_at  bigint,
    created_by   uuid NOT NULL,
    created_at   bigint NOT NULL,
    updated_at   bigint NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, column_id) REFERENCES board_columns (account_id, id)
);
CREATE INDEX cards_by_column ON cards (account_id, column_id, position);
CREATE INDEX cards_by_board ON cards (account_id, board_id);

CREATE TABLE card_subscriptions (
    account_id  uuid NOT NULL,
    card_id     uuid NOT NULL,
    user_id     uuid NOT NULL,
    created_at  bigint NOT NULL,
    PRIMARY KEY (account_id, card_id, user_id)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['projects', 'boards', 'board_columns', 'cards', 'card_subscriptions']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I '
                       'USING (account_id = chronicle_current_account()) '
                       'WITH CHECK (account_id = chronicle_current_account())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO chronicle_tenant', t);
    END LOOP;
END
$$;
