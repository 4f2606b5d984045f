use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::changed_fields;
use crate::events::{DomainEvent, FieldChange, Subject, SubjectKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountCreated {
    pub account_id: Uuid,
    pub name: String,
}

impl DomainEvent for AccountCreated {
    const TYPE: &'static str = "account.created";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Account, self.account_id)
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} created the team {}", self.name)
    }
    const ICON: &'static str = "building";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountUpdated {
    pub account_id: Uuid,
    pub name: String,
    pub changes: Vec<FieldChange>,
}

impl DomainEvent for AccountUpdated {
    const TYPE: &'static str = "account.updated";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Account, self.account_id)
    }
    fn describe(&self, actor: &str) -> String {
        format!(
            "{actor} changed the team's {}",
            changed_fields(&self.changes)
        )
    }
    const ICON: &'static str = "pencil";
}
