use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::CardRef;
use crate::events::{DomainEvent, FieldChange, Scope, Subject, SubjectKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentAdded {
    pub comment_id: Uuid,
    pub card: CardRef,
    pub body: String,
}

impl DomainEvent for CommentAdded {
    const TYPE: &'static str = "comment.added";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Comment, self.comment_id)
    }
    fn scope(&self) -> Scope {
        self.card.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} commented on {}", self.card.title)
    }
    const ICON: &'static str = "message-square";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentEdited {
    pub comment_id: Uuid,
    pub card: CardRef,
    pub changes: Vec<FieldChange>,
}

impl DomainEvent for CommentEdited {
    const TYPE: &'static str = "comment.edited";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Comment, self.comment_id)
    }
    fn scope(&self) -> Scope {
        self.card.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} edited a comment on {}", self.card.title)
    }
    const ICON: &'static str = "message-square";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentDeleted {
    pub comment_id: Uuid,
    pub card: CardRef,
}

impl DomainEvent for CommentDeleted {
    const TYPE: &'static str = "comment.deleted";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Comment, self.comment_id)
    }
    fn scope(&self) -> Scope {
        self.card.scope()
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} deleted a comment on {}", self.card.title)
    }
    const ICON: &'static str = "message-square-x";
}
