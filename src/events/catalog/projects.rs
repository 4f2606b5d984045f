use serde::{Deserialize, Serialize};

use super::{changed_fields, validate_reason, ProjectRef};
use crate::events::{DomainEvent, FieldChange, Scope, Subject, SubjectKind};

/// Longest reason for archiving a project, in characters.
pub const MAX_ARCHIVE_REASON_CHARS: usize = 500;

fn scope(project: &ProjectRef) -> Scope {
    Scope {
        project: Some(project.id),
        ..Scope::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectCreated {
    pub project: ProjectRef,
}

impl DomainEvent for ProjectCreated {
    const TYPE: &'static str = "project.created";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Project, self.project.id)
    }
    fn scope(&self) -> Scope {
        scope(&self.project)
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} created the project {}", self.project.name)
    }
    const ICON: &'static str = "folder-plus";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectUpdated {
    pub project: ProjectRef,
    pub changes: Vec<FieldChange>,
}

impl DomainEvent for ProjectUpdated {
    const TYPE: &'static str = "project.updated";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Project, self.project.id)
    }
    fn scope(&self) -> Scope {
        scope(&self.project)
    }
    fn describe(&self, actor: &str) -> String {
        format!(
            "{actor} changed the {} of {}",
            changed_fields(&self.changes),
            self.project.name
        )
    }
    const ICON: &'static str = "pencil";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectArchived {
    pub project: ProjectRef,
    /// Why; required, at most 500 characters.
    pub reason: String,
}

impl DomainEvent for ProjectArchived {
    const TYPE: &'static str = "project.archived";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Project, self.project.id)
    }
    fn scope(&self) -> Scope {
        scope(&self.project)
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} archived {}: {}", self.project.name, self.reason)
    }
    const ICON: &'static str = "archive";
    fn validate(&self) -> crate::Result<()> {
        validate_reason(&self.reason, MAX_ARCHIVE_REASON_CHARS)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectDeleted {
    pub project: ProjectRef,
    /// The project's fields as they were when it was deleted.
    pub final_values: serde_json::Value,
}

impl DomainEvent for ProjectDeleted {
    const TYPE: &'static str = "project.deleted";
    fn subject(&self) -> Subject {
        Subject::new(SubjectKind::Project, self.project.id)
    }
    fn scope(&self) -> Scope {
        scope(&self.project)
    }
    fn describe(&self, actor: &str) -> String {
        format!("{actor} deleted the project {}", self.project.name)
    }
    const ICON: &'static str = "trash";
}
