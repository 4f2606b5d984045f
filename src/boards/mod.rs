//! Boards and their ordered columns. A new board starts with To do / Doing / Done.
//! Columns keep a dense order (0..n-1); a column can be deleted only when empty.

use uuid::Uuid;

use crate::accounts::{AccountId, Current};
use crate::error::{Error, Result};
use crate::events::catalog::{
    BoardCreated, BoardRef, BoardUpdated, ColumnCreated, ColumnDeleted, ColumnMoved, ColumnRef,
    ColumnRenamed,
};
use crate::events::{record, FieldChange, RecordOptions};
use crate::queue::now_micros;
use crate::store::{on_account, on_tx, Store, Tx};

pub const MAX_BOARD_NAME_CHARS: usize = 80;
pub const MAX_COLUMN_NAME_CHARS: usize = 40;
/// The columns a new board starts with.
pub const DEFAULT_COLUMNS: [&str; 3] = ["To do", "Doing", "Done"];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Board {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub created_at: i64,
}

impl Board {
    pub fn as_ref(&self) -> BoardRef {
        BoardRef {
            id: self.id,
            name: self.name.clone(),
            project_id: self.project_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Column {
    pub id: Uuid,
    pub board_id: Uuid,
    pub name: String,
    pub position: i32,
}

impl Column {
    pub fn as_ref(&self) -> ColumnRef {
        ColumnRef {
            id: self.id,
            name: self.name.clone(),
        }
    }
}

const BOARD_COLUMNS: &str = "id, project_id, name, created_at";
const COLUMN_COLUMNS: &str = "id, board_id, name, position";

/// Creates a board in a project with the default columns: `board.created` and one
/// `column.created` per column, as one batch.
pub async fn create_board(
    store: &Store,
    current: &Current,
    project_id: Uuid,
    name: &str,
) -> Result<Board> {
    let name = crate::validate::single_line("name", name, MAX_BOARD_NAME_CHARS)?;
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let project = crate::projects::lock_project(&mut tx, account, project_id).await?;
    if project.archived_at.is_some() {
        return Err(Error::Conflict(format!("{} is archived", project.name)));
    }
    let board = Board {
        id: Uuid::now_v7(),
        project_id,
        name,
        created_at: now_micros(),
    };
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO boards (account_id, id, project_id, name, created_at) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(account)
    .bind(board.id)
    .bind(project_id)
    .bind(&board.name)
    .bind(board.created_at)
    .execute(c)
    .await?
    .rows_affected()
    });
    let batch = RecordOptions {
        batch_id: Some(Uuid::now_v7()),
        ..RecordOptions::default()
    };
    let actor = current.actor();
    let event = BoardCreated {
        board: board.as_ref(),
        project_name: project.name.clone(),
    };
    record(&mut tx, account, &actor, &event, batch.clone()).await?;
    for (position, column) in DEFAULT_COLUMNS.iter().enumerate() {
        insert_column(
            &mut tx,
            account,
            &board,
            column,
            position as i32,
            &actor,
            batch.clone(),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(board)
}

async fn insert_column(
    tx: &mut Tx,
    account: AccountId,
    board: &Board,
    name: &str,
    position: i32,
    actor: &crate::events::Actor,
    options: RecordOptions,
) -> Result<Column> {
    let column = Column {
        id: Uuid::now_v7(),
        board_id: board.id,
        name: name.to_owned(),
        position,
    };
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO board_columns (account_id, id, board_id, name, position, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(account)
    .bind(column.id)
    .bind(board.id)
    .bind(&column.name)
    .bind(position)
    .bind(now_micros())
    .execute(c)
    .await?
    .rows_affected());
    let event = ColumnCreated {
        board: board.as_ref(),
        column: column.as_ref(),
        position: i64::from(position),
    };
    record(tx, account, actor, &event, options).await?;
    Ok(column)
}

/// The boards of a project, by name.
pub async fn list_boards(store: &Store, current: &Current, project_id: Uuid) -> Result<Vec<Board>> {
    let account = current.account_id();
    let sql = format!(
        "SELECT {BOARD_COLUMNS} FROM boards WHERE account_id = $1 AND project_id = $2 ORDER BY name, id"
    );
    Ok(on_account!(store, account, |c| sqlx::query_as(&sql)
        .bind(account)
        .bind(project_id)
        .fetch_all(c)
        .await?))
}

/// A board, for reading.
pub(crate) async fn find_board(tx: &mut Tx, account: AccountId, id: Uuid) -> Result<Board> {
    let sql = format!("SELECT {BOARD_COLUMNS} FROM boards WHERE account_id = $1 AND id = $2");
    let b: Option<Board> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(account)
        .bind(id)
        .fetch_optional(c)
        .await?);
    b.ok_or(Error::NotFound("board"))
}

/// A board, locked for the rest of the transaction: every change to the order of its
/// columns or cards takes this lock first and reads the orders after it, so concurrent
/// changes queue instead of numbering from the same stale list (PostgreSQL
/// `FOR UPDATE`; SQLite's write transaction is already exclusive).
pub(crate) async fn lock_board(tx: &mut Tx, account: AccountId, id: Uuid) -> Result<Board> {
    let lock = match tx.engine() {
        crate::store::Engine::Postgres => " FOR UPDATE",
        crate::store::Engine::Sqlite => "",
    };
    let sql = format!("SELECT {BOARD_COLUMNS} FROM boards WHERE account_id = $1 AND id = $2{lock}");
    let b: Option<Board> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(account)
        .bind(id)
        .fetch_optional(c)
        .await?);
    b.ok_or(Error::NotFound("board"))
}

pub(crate) async fn columns_in(
    tx: &mut Tx,
    account: AccountId,
    board: Uuid,
) -> Result<Vec<Column>> {
    let sql = format!(
        "SELECT {COLUMN_COLUMNS} FROM board_columns WHERE account_id = $1 AND board_id = $2 ORDER BY position"
    );
    Ok(on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(account)
        .bind(board)
        .fetch_all(c)
        .await?))
}

pub(crate) async fn lock_column(tx: &mut Tx, account: AccountId, id: Uuid) -> Result<Column> {
    let sql =
        format!("SELECT {COLUMN_COLUMNS} FROM board_columns WHERE account_id = $1 AND id = $2");
    let col: Option<Column> = on_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(account)
        .bind(id)
        .fetch_optional(c)
        .await?);
    col.ok_or(Error::NotFound("column"))
}

pub async fn rename_board(store: &Store, current: &Current, id: Uuid, name: &str) -> Result<Board> {
    let name = crate::validate::single_line("name", name, MAX_BOARD_NAME_CHARS)?;
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let old = lock_board(&mut tx, account, id).await?;
    if old.name == name {
        return Ok(old);
    }
    on_tx!(tx, |c| sqlx::query(
        "UPDATE boards SET name = $1 WHERE account_id = $2 AND id = $3"
    )
    .bind(&name)
    .bind(account)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    let board = Board {
        name,
        ..old.clone()
    };
    let event = BoardUpdated {
        board: board.as_ref(),
        changes: vec![FieldChange {
            field: "name".into(),
            old: old.name.into(),
            new: board.name.clone().into(),
        }],
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(board)
}

/// Adds a column at the end of a board.
pub async fn add_column(
    store: &Store,
    current: &Current,
    board_id: Uuid,
    name: &str,
) -> Result<Column> {
    let name = crate::validate::single_line("name", name, MAX_COLUMN_NAME_CHARS)?;
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let board = lock_board(&mut tx, account, board_id).await?;
    let position = columns_in(&mut tx, account, board_id).await?.len() as i32;
    let column = insert_column(
        &mut tx,
        account,
        &board,
        &name,
        position,
        &current.actor(),
        RecordOptions::default(),
    )
    .await?;
    tx.commit().await?;
    Ok(column)
}

pub async fn rename_column(
    store: &Store,
    current: &Current,
    column_id: Uuid,
    name: &str,
) -> Result<Column> {
    let name = crate::validate::single_line("name", name, MAX_COLUMN_NAME_CHARS)?;
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let old = lock_column(&mut tx, account, column_id).await?;
    if old.name == name {
        return Ok(old);
    }
    let board = lock_board(&mut tx, account, old.board_id).await?;
    on_tx!(tx, |c| sqlx::query(
        "UPDATE board_columns SET name = $1 WHERE account_id = $2 AND id = $3"
    )
    .bind(&name)
    .bind(account)
    .bind(column_id)
    .execute(c)
    .await?
    .rows_affected());
    let event = ColumnRenamed {
        board: board.as_ref(),
        column_id,
        old_name: old.name.clone(),
        new_name: name.clone(),
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(Column { name, ..old })
}

/// Moves a column to `to_position` (clamped to the board), shifting the others.
pub async fn move_column(
    store: &Store,
    current: &Current,
    column_id: Uuid,
    to_position: i32,
) -> Result<Vec<Column>> {
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let board_id = lock_column(&mut tx, account, column_id).await?.board_id;
    let board = lock_board(&mut tx, account, board_id).await?;
    let column = lock_column(&mut tx, account, column_id).await?;
    let mut columns = columns_in(&mut tx, account, board.id).await?;
    let from = columns
        .iter()
        .position(|c| c.id == column_id)
        .ok_or(Error::NotFound("column"))?;
    let to = (to_position.max(0) as usize).min(columns.len() - 1);
    if from == to {
        return Ok(columns);
    }
    let moved = columns.remove(from);
    columns.insert(to, moved);
    renumber_columns(&mut tx, account, &mut columns).await?;
    let event = ColumnMoved {
        board: board.as_ref(),
        column: column.as_ref(),
        from_position: from as i64,
        to_position: to as i64,
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(columns)
}

async fn renumber_columns(tx: &mut Tx, account: AccountId, columns: &mut [Column]) -> Result<()> {
    for (i, col) in columns.iter_mut().enumerate() {
        let i = i as i32;
        if col.position != i {
            on_tx!(tx, |c| sqlx::query(
                "UPDATE board_columns SET position = $1 WHERE account_id = $2 AND id = $3"
            )
            .bind(i)
            .bind(account)
            .bind(col.id)
            .execute(c)
            .await?
            .rows_affected());
            col.position = i;
        }
    }
    Ok(())
}

/// Deletes an empty column (archived cards count: they still live in it).
pub async fn delete_column(store: &Store, current: &Current, column_id: Uuid) -> Result<()> {
    let account = current.account_id();
    let mut tx = store.begin_for(account).await?;
    let board_id = lock_column(&mut tx, account, column_id).await?.board_id;
    let board = lock_board(&mut tx, account, board_id).await?;
    let column = lock_column(&mut tx, account, column_id).await?;
    // Archived cards keep their column (a restored card goes back to it), so they hold
    // the column too; the message says which kind is left and what to do.
    let (active, archived): (i64, i64) = on_tx!(tx, |c| sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE archived_at IS NULL), \
         COUNT(*) FILTER (WHERE archived_at IS NOT NULL) \
         FROM cards WHERE account_id = $1 AND column_id = $2"
    )
    .bind(account)
    .bind(column_id)
    .fetch_one(c)
    .await?);
    let plural = |n: i64| if n == 1 { "" } else { "s" };
    if active > 0 {
        return Err(Error::Conflict(format!(
            "{} still holds {active} card{}; move or archive them first",
            column.name,
            plural(active)
        )));
    }
    if archived > 0 {
        return Err(Error::Conflict(format!(
            "{} still holds {archived} archived card{}; restore or delete them first \
             (they are listed under the board's archived cards)",
            column.name,
            plural(archived)
        )));
    }
    on_tx!(tx, |c| sqlx::query(
        "DELETE FROM board_columns WHERE account_id = $1 AND id = $2"
    )
    .bind(account)
    .bind(column_id)
    .execute(c)
    .await?
    .rows_affected());
    let mut rest = columns_in(&mut tx, account, board.id).await?;
    renumber_columns(&mut tx, account, &mut rest).await?;
    let event = ColumnDeleted {
        board: board.as_ref(),
        column: column.as_ref(),
        final_values: serde_json::json!({ "name": column.name, "position": column.position }),
    };
    current.record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// A board with its project, its columns in order and each column's active cards in
/// order: what the board page shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BoardView {
    pub board: Board,
    pub project: crate::projects::Project,
    pub columns: Vec<(Column, Vec<crate::cards::Card>)>,
}

pub async fn board_view(store: &Store, current: &Current, board_id: Uuid) -> Result<BoardView> {
    let account = current.account_id();
    // One read transaction: the board, its columns and cards as of one moment.
    let mut tx = store.read_for(account).await?;
    let board = find_board(&mut tx, account, board_id).await?;
    let project = crate::projects::lock_project(&mut tx, account, board.project_id).await?;
    let columns = columns_in(&mut tx, account, board_id).await?;
    let cards = crate::cards::cards_on_board(&mut tx, account, board_id).await?;
    tx.rollback().await?;
    let columns = columns
        .into_iter()
        .map(|col| {
            let mine = cards
                .iter()
                .filter(|c| c.column_id == col.id)
                .cloned()
                .collect();
            (col, mine)
        })
        .collect();
    Ok(BoardView {
        board,
        project,
        columns,
    })
}

pub async fn get_board(store: &Store, current: &Current, id: Uuid) -> Result<Board> {
    let account = current.account_id();
    let mut tx = store.read_for(account).await?;
    let board = find_board(&mut tx, account, id).await?;
    tx.rollback().await?;
    Ok(board)
}
