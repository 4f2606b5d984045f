use serde::{Deserialize, Serialize};

use super::{changed_fields, BoardRef, ColumnRef};
use crate::events::{DomainEvent, FieldChange, Scope, Subject, SubjectKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardCreated {
    pub board: BoardRef,
    pub project_name: String,
}

impl DomainEvent for BoardCreated {
    const TYPE: &'static str = "board.created";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Board, self.board.id)
    }
    fn scope(&self) -> Scope {
        self.board.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!(
            "{actor} created the board {} in {}",
            self.board.name, self.project_name
        )
    }
    const ICON: &'static str = "layout-dashboard";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardUpdated {
    pub board: BoardRef,
    pub changes: Vec<FieldChange>,
}

impl DomainEvent for BoardUpdated {
    const TYPE: &'static str = "board.updated";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Board, self.board.id)
    }
    fn scope(&self) -> Scope {
        self.board.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!(
            "{actor} changed the {} of the board {}",
            changed_fields(&self.changes),
            self.board.name
        )
    }
    const ICON: &'static str = "pencil";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardArchived {
    pub board: BoardRef,
}

impl DomainEvent for BoardArchived {
    const TYPE: &'static str = "board.archived";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Board, self.board.id)
    }
    fn scope(&self) -> Scope {
        self.board.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} archived the board {}", self.board.name)
    }
    const ICON: &'static str = "archive";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardDeleted {
    pub board: BoardRef,
    pub final_values: serde_json::Value,
}

impl DomainEvent for BoardDeleted {
    const TYPE: &'static str = "board.deleted";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Board, self.board.id)
    }
    fn scope(&self) -> Scope {
        self.board.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} deleted the board {}", self.board.name)
    }
    const ICON: &'static str = "trash";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnCreated {
    pub board: BoardRef,
    pub column: ColumnRef,
    pub position: i64,
}

impl DomainEvent for ColumnCreated {
    const TYPE: &'static str = "column.created";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Column, self.column.id)
    }
    fn scope(&self) -> Scope {
        self.board.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!(
            "{actor} added the column {} to {}",
            self.column.name, self.board.name
        )
    }
    const ICON: &'static str = "columns";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnRenamed {
    pub board: BoardRef,
    pub column_id: uuid::Uuid,
    pub old_name: String,
    pub new_name: String,
}

impl DomainEvent for ColumnRenamed {
    const TYPE: &'static str = "column.renamed";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Column, self.column_id)
    }
    fn scope(&self) -> Scope {
        self.board.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!(
            "{actor} renamed the column {} to {}",
            self.old_name, self.new_name
        )
    }
    const ICON: &'static str = "pencil";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnMoved {
    pub board: BoardRef,
    pub column: ColumnRef,
    pub from_position: i64,
    pub to_position: i64,
}

impl DomainEvent for ColumnMoved {
    const TYPE: &'static str = "column.moved";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Column, self.column.id)
    }
    fn scope(&self) -> Scope {
        self.board.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} reordered the column {}", self.column.name)
    }
    const ICON: &'static str = "arrow-left-right";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDeleted {
    pub board: BoardRef,
    pub column: ColumnRef,
    pub final_values: serde_json::Value,
}

impl DomainEvent for ColumnDeleted {
    const TYPE: &'static str = "column.deleted";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Column, self.column.id)
    }
    fn scope(&self) -> Scope {
        self.board.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!(
            "{actor} deleted the column {} from {}",
            self.column.name, self.board.name
        )
    }
    const ICON: &'static str = "trash";
}
