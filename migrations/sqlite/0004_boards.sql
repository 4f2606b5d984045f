-- Projects, boards, their columns, cards and card subscriptions. Times are integer
-- microseconds since the Unix epoch. Every table leads with account_id.

CREATE TABLE projects (
    account_id      BLOB NOT NULL REFERENCES accounts (id),
    id              BLOB NOT NULL,
    name            TEXT NOT NULL,
    archived_at     INTEGER,
    archive_reason  TEXT,
    created_by      BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
) STRICT;

CREATE TABLE boards (
    account_id  BLOB NOT NULL,
    id          BLOB NOT NULL,
    project_id  BLOB NOT NULL,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, project_id) REFERENCES projects (account_id, id)
) STRICT;
CREATE INDEX boards_by_project ON boards (account_id, project_id);

-- Columns are kept in a dense order 0..n-1 per board.
CREATE TABLE board_columns (
    account_id  BLOB NOT NULL,
    id          BLOB NOT NULL,
    board_id    BLOB NOT NULL,
    name        TEXT NOT NULL,
    position    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, board_id) REFERENCES boards (account_id, id)
) STRICT;
CREATE INDEX board_columns_by_board ON board_columns (account_id, board_id, position);

-- Cards are kept in a dense order 0..n-1 per column (archived cards leave the order).
-- `version` grows with every edit: an edit based on an older version is a conflict.
CREATE TABLE cards (
    account_id   BLOB NOT NULL,
    id           BLOB NOT NULL,
    board_id     BLOB NOT NULL,
    column_id    BLOB NOT NULL,
    position     INTEGER NOT NULL,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    assignee_id  BLOB,
    due_date     TEXT,                       -- YYYY-MM-DD
    status       TEXT NOT NULL DEFAULT 'open',
    version      INTEGER NOT NULL DEFAULT 1,
    archived_at  INTEGER,
    created_by   BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, column_id) REFERENCES board_columns (account_id, id)
) STRICT;
CREATE INDEX cards_by_column ON cards (account_id, column_id, position);
CREATE INDEX cards_by_board ON cards (account_id, board_id);

CREATE TABLE card_subscriptions (
    account_id  BLOB NOT NULL,
    card_id     BLOB NOT NULL,
    user_id     BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (account_id, card_id, user_id)
) STRICT;
