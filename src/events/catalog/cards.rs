use serde::{Deserialize, Serialize};

use super::{changed_fields, CardRef, ColumnRef};
use crate::events::{DomainEvent, FieldChange, Scope, Subject, SubjectKind};

/// Longest reason given with a status change, in characters.
pub const MAX_STATUS_REASON_CHARS: usize = 500;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardCreated {
    pub card: CardRef,
    pub column: ColumnRef,
}

impl DomainEvent for CardCreated {
    const TYPE: &'static str = "card.created";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Card, self.card.id)
    }
    fn scope(&self) -> Scope {
        self.card.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} added {} to {}", self.card.title, self.column.name)
    }
    const ICON: &'static str = "square-plus";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardUpdated {
    pub card: CardRef,
    pub changes: Vec<FieldChange>,
}

impl DomainEvent for CardUpdated {
    const TYPE: &'static str = "card.updated";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Card, self.card.id)
    }
    fn scope(&self) -> Scope {
        self.card.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!(
            "{actor} changed the {} of {}",
            changed_fields(&self.changes),
            self.card.title
        )
    }
    const ICON: &'static str = "pencil";
    fn validate(&self) -> crate::Result<()> {
        if self.changes.is_empty() {
            return Err(crate::Error::invalid(
                "changes",
                "an update changes something",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardMoved {
    pub card: CardRef,
    pub from_column: ColumnRef,
    pub to_column: ColumnRef,
    pub position: i64,
}

impl DomainEvent for CardMoved {
    const TYPE: &'static str = "card.moved";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Card, self.card.id)
    }
    fn scope(&self) -> Scope {
        self.card.scope()
    }
    fn describe(&self, actor: &str) -> String {
        if self.from_column.id == self.to_column.id {
            format!(
                "{actor} reordered {} in {}",
                self.card.title, self.to_column.name
            )
        } else {
            format!(
                "{actor} moved {} from {} to {}",
                self.card.title, self.from_column.name, self.to_column.name
            )
        }
    }
    const ICON: &'static str = "arrow-right";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardArchived {
    pub card: CardRef,
}

impl DomainEvent for CardArchived {
    const TYPE: &'static str = "card.archived";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Card, self.card.id)
    }
    fn scope(&self) -> Scope {
        self.card.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} archived {}", self.card.title)
    }
    const ICON: &'static str = "archive";
}

/// An archived card back on its board, at the end of the column it was archived from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardRestored {
    pub card: CardRef,
    pub column: ColumnRef,
}

impl DomainEvent for CardRestored {
    const TYPE: &'static str = "card.restored";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Card, self.card.id)
    }
    fn scope(&self) -> Scope {
        self.card.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!(
            "{actor} restored {} to {}",
            self.card.title, self.column.name
        )
    }
    const ICON: &'static str = "archive-restore";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardDeleted {
    pub card: CardRef,
    /// The card's fields as they were when it was deleted.
    pub final_values: serde_json::Value,
}

impl DomainEvent for CardDeleted {
    const TYPE: &'static str = "card.deleted";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Card, self.card.id)
    }
    fn scope(&self) -> Scope {
        self.card.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} deleted {}", self.card.title)
    }
    const ICON: &'static str = "trash";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChanged {
    pub card: CardRef,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// True when a rule changed it rather than a person.
    #[serde(default)]
    pub automated: bool,
}

impl DomainEvent for StatusChanged {
    const TYPE: &'static str = "card.status_changed";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Card, self.card.id)
    }
    fn scope(&self) -> Scope {
        self.card.scope()
    }
    fn describe(&self, actor: &str) -> String {
        let who = if self.automated { "Chronicle" } else { actor };
        match &self.reason {
            Some(reason) => format!(
                "{who} changed the status of {} from {} to {} ({reason})",
                self.card.title, self.from, self.to
            ),
            None => format!(
                "{who} changed the status of {} from {} to {}",
                self.card.title, self.from, self.to
            ),
        }
    }
    const ICON: &'static str = "circle-dot";
    fn validate(&self) -> crate::Result<()> {
        if self.from == self.to {
            return Err(crate::Error::invalid("status", "the status did not change"));
        }
        if let Some(reason) = &self.reason {
            super::validate_reason(reason, MAX_STATUS_REASON_CHARS)?;
        }
        Ok(())
    }
}
