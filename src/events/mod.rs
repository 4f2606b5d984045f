//! Domain events: one Rust type per kind of change, recorded in an append-only,
//! hash-chained log in the same transaction as the change itself.
//!
//! - [`DomainEvent`] is what every event type implements: its wire name, schema
//!   version, subject, scope, human description, icon and public representation.
//! - [`catalog`] holds the types, one file per family (cards, boards, members, …), and
//!   the [`registry`] that reads stored events back as their types.
//! - [`record`] writes an event (plus its activity row and inbox jobs) inside the
//!   caller's transaction; [`log`] reads and verifies the chain.

pub mod canonical;
pub mod catalog;
mod changes;
pub mod log;
pub mod record;
pub mod registry;

pub use changes::{make_field_changes, FieldChange, TrackFields};
pub use record::{record, Actor, RecordOptions, RecordOutcome, RequestContext};
pub use registry::{decode, AnyEvent, EventKind};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Result;

/// What an event is about: a polymorphic reference (kind + id), like `card 0190…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: Uuid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Account,
    Member,
    Project,
    Board,
    Column,
    Card,
    Comment,
    WebhookEndpoint,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Account => "account",
            SubjectKind::Member => "member",
            SubjectKind::Project => "project",
            SubjectKind::Board => "board",
            SubjectKind::Column => "column",
            SubjectKind::Card => "card",
            SubjectKind::Comment => "comment",
            SubjectKind::WebhookEndpoint => "webhook_endpoint",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "account" => SubjectKind::Account,
            "member" => SubjectKind::Member,
            "project" => SubjectKind::Project,
            "board" => SubjectKind::Board,
            "column" => SubjectKind::Column,
            "card" => SubjectKind::Card,
            "comment" => SubjectKind::Comment,
            "webhook_endpoint" => SubjectKind::WebhookEndpoint,
            _ => return None,
        })
    }
}

impl Subject {
    pub fn new(kind: SubjectKind, id: Uuid) -> Self {
        Subject { kind, id }
    }
}

/// Where in the account an event happened; feeds are filtered by it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub project: Option<Uuid>,
    pub board: Option<Uuid>,
    pub card: Option<Uuid>,
}

/// A kind of domain event. Implement it for a type, add the type to the registry
/// (`registry.rs`), and it can be recorded, read back, described and published.
pub trait DomainEvent:
    Serialize + DeserializeOwned + Send + Sync + std::fmt::Debug + 'static
{
    /// Stable wire name, subject then past-tense verb: `card.moved`.
    const TYPE: &'static str;
    /// Schema version of the stored data. Bump it when the shape changes and teach
    /// [`DomainEvent::upcast`] to read the older versions.
    const VERSION: i32 = 1;

    fn subject(&self) -> Subject;

    fn scope(&self) -> Scope {
        Scope::default()
    }

    /// One line for people, from the event alone (it carries the names it needs):
    /// `"Bob moved Fix login from To do to Doing"`.
    fn describe(&self, actor: &str) -> String;

    /// Icon name for feeds: a Lucide icon's name such as `arrow-right` (the app draws
    /// each name the catalog uses).
    const ICON: &'static str = "activity";

    fn icon(&self) -> &'static str {
        Self::ICON
    }

    /// Rules the stored data must satisfy beyond its types (lengths, non-empty).
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// The representation sent to webhooks and the public API. Kept apart from the
    /// stored form so storage can evolve without breaking receivers; by default the
    /// two coincide.
    fn public(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Whether the event appears in activity feeds (most do).
    fn user_facing(&self) -> bool {
        true
    }

    /// Turns data stored at an older `version` into the current shape. The default
    /// accepts only the current version.
    fn upcast(version: i32, data: serde_json::Value) -> Result<serde_json::Value> {
        if version == Self::VERSION {
            Ok(data)
        } else {
            Err(crate::Error::invalid(
                "schema_version",
                format!("{} has no upcaster from version {version}", Self::TYPE),
            ))
        }
    }
}

/// Whether `type_name` is a registered event type's wire name (`card.moved`).
pub fn is_known_type(type_name: &str) -> bool {
    registry::kind(type_name).is_some()
}
