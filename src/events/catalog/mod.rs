//! Every kind of domain event, one file per family. Events carry the names and titles
//! they need to be described later, so history reads right after renames and deletes.

mod accounts;
mod boards;
mod cards;
mod comments;
mod members;
mod projects;

pub use accounts::*;
pub use boards::*;
pub use cards::*;
pub use comments::*;
pub use members::*;
pub use projects::*;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{FieldChange, Scope};

/// A project as an event remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRef {
    pub id: Uuid,
    pub name: String,
}

/// A board as an event remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardRef {
    pub id: Uuid,
    pub name: String,
    pub project_id: Uuid,
}

/// A column as an event remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnRef {
    pub id: Uuid,
    pub name: String,
}

/// A card as an event remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRef {
    pub id: Uuid,
    pub title: String,
    pub board_id: Uuid,
    pub project_id: Uuid,
}

impl BoardRef {
    fn scope(&self) -> Scope {
        Scope {
            project: Some(self.project_id),
            board: Some(self.id),
            card: None,
        }
    }
}

impl CardRef {
    fn scope(&self) -> Scope {
        Scope {
            project: Some(self.project_id),
            board: Some(self.board_id),
            card: Some(self.id),
        }
    }
}

/// "title and description" — the changed field names, for descriptions.
fn changed_fields(changes: &[FieldChange]) -> String {
    let names: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    match names.as_slice() {
        [] => "nothing".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Checks a required free-text reason: present and at most `max` characters.
fn validate_reason(reason: &str, max: usize) -> crate::Result<()> {
    if reason.trim().is_empty() {
        return Err(crate::Error::invalid("reason", "a reason is required"));
    }
    crate::validate::text("reason", reason, max, true).map(drop)
}
