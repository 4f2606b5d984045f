//! The registry: every event type by its wire name, so stored rows decode back into
//! their Rust types (upcasting older schema versions on the way).

use std::any::Any;

use serde_json::Value;

use super::catalog::*;
use super::{DomainEvent, Scope, Subject};
use crate::error::{Error, Result};

/// A domain event whose type is known only at run time (read from the log, handed to
/// an inbox). Every [`DomainEvent`] is one; [`AnyEvent::downcast_ref`] gets the type back.
pub trait AnyEvent: Send + Sync + std::fmt::Debug {
    fn type_name(&self) -> &'static str;
    fn version(&self) -> i32;
    fn subject(&self) -> Subject;
    fn scope(&self) -> Scope;
    fn describe(&self, actor: &str) -> String;
    fn icon(&self) -> &'static str;
    fn public(&self) -> Value;
    fn user_facing(&self) -> bool;
    fn validate(&self) -> Result<()>;
    /// The stored (not public) JSON form.
    fn to_data(&self) -> Result<Value>;
    fn as_any(&self) -> &dyn Any;
}

impl<E: DomainEvent> AnyEvent for E {
    fn type_name(&self) -> &'static str {
        E::TYPE
    }
    fn version(&self) -> i32 {
        E::VERSION
    }
    fn subject(&self) -> Subject {
        DomainEvent::subject(self)
    }
    fn scope(&self) -> Scope {
        DomainEvent::scope(self)
    }
    fn describe(&self, actor: &str) -> String {
        DomainEvent::describe(self, actor)
    }
    fn icon(&self) -> &'static str {
        DomainEvent::icon(self)
    }
    fn public(&self) -> Value {
        DomainEvent::public(self)
    }
    fn user_facing(&self) -> bool {
        DomainEvent::user_facing(self)
    }
    fn validate(&self) -> Result<()> {
        DomainEvent::validate(self)
    }
    fn to_data(&self) -> Result<Value> {
        serde_json::to_value(self)
            .map_err(|e| Error::invalid("event", format!("cannot serialize {}: {e}", E::TYPE)))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl dyn AnyEvent {
    pub fn downcast_ref<E: DomainEvent>(&self) -> Option<&E> {
        self.as_any().downcast_ref::<E>()
    }
}

/// One registered event type.
pub struct EventKind {
    pub type_name: &'static str,
    pub version: i32,
    /// The icon feeds show for it ([`DomainEvent::ICON`]).
    pub icon: &'static str,
    decode: fn(i32, Value) -> Result<Box<dyn AnyEvent>>,
}

fn decode_as<E: DomainEvent>(version: i32, data: Value) -> Result<Box<dyn AnyEvent>> {
    let data = E::upcast(version, data)?;
    let event: E = serde_json::from_value(data)
        .map_err(|e| Error::invalid("data", format!("stored {} does not decode: {e}", E::TYPE)))?;
    Ok(Box::new(event))
}

macro_rules! registry {
    ($($t:ty),* $(,)?) => {
        /// Every event type Chronicle knows. Add a new type here.
        pub static KINDS: &[EventKind] = &[
            $(EventKind {
                type_name: <$t as DomainEvent>::TYPE,
                version: <$t as DomainEvent>::VERSION,
                icon: <$t as DomainEvent>::ICON,
                decode: decode_as::<$t>,
            }),*
        ];
    };
}

registry![
    AccountCreated,
    AccountUpdated,
    MemberInvited,
    MemberJoined,
    MemberRemoved,
    MemberRoleChanged,
    ProjectCreated,
    ProjectUpdated,
    ProjectArchived,
    ProjectDeleted,
    BoardCreated,
    BoardUpdated,
    BoardArchived,
    BoardDeleted,
    ColumnCreated,
    ColumnRenamed,
    ColumnMoved,
    ColumnDeleted,
    CardCreated,
    CardUpdated,
    CardMoved,
    CardArchived,
    CardRestored,
    CardDeleted,
    StatusChanged,
    CommentAdded,
    CommentEdited,
    CommentDeleted,
];

/// The registered kind with this wire name.
pub fn kind(type_name: &str) -> Option<&'static EventKind> {
    KINDS.iter().find(|k| k.type_name == type_name)
}

/// Reads stored event data as its type, upcasting from `version` if needed. An unknown
/// type or undecodable data is an error, never a panic.
pub fn decode(type_name: &str, version: i32, data: Value) -> Result<Box<dyn AnyEvent>> {
    let kind = kind(type_name)
        .ok_or_else(|| Error::invalid("event_type", format!("unknown event type {type_name:?}")))?;
    (kind.decode)(version, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn wire_names_are_unique_and_shaped_subject_dot_verb() {
        let mut seen = HashSet::new();
        for k in KINDS {
            assert!(seen.insert(k.type_name), "{} registered twice", k.type_name);
            let (subject, verb) = k.type_name.split_once('.').expect("subject.verb");
            assert!(!subject.is_empty() && !verb.is_empty(), "{}", k.type_name);
            assert!(k
                .type_name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'));
        }
    }

    #[test]
    fn an_unknown_type_is_an_error_not_a_panic() {
        let err = decode("card.teleported", 1, Value::Null).expect_err("unknown");
        assert!(err.to_string().contains("card.teleported"));
    }

    /// A type at schema version 2 whose version 1 called `name` what is now `title`.
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct Renamed {
        id: uuid::Uuid,
        title: String,
    }

    impl DomainEvent for Renamed {
        const TYPE: &'static str = "test.renamed";
        const VERSION: i32 = 2;
        fn subject(&self) -> Subject {
            Subject::new(super::super::SubjectKind::Card, self.id)
        }
        fn describe(&self, actor: &str) -> String {
            format!("{actor} renamed {}", self.title)
        }
        fn upcast(version: i32, mut data: Value) -> Result<Value> {
            match version {
                1 => {
                    if let Some(obj) = data.as_object_mut() {
                        if let Some(name) = obj.remove("name") {
                            obj.insert("title".into(), name);
                        }
                    }
                    Ok(data)
                }
                2 => Ok(data),
                v => Err(Error::invalid(
                    "schema_version",
                    format!("unknown version {v}"),
                )),
            }
        }
    }

    #[test]
    fn old_versions_are_upcast_to_the_current_type() {
        let id = uuid::Uuid::nil();
        let v1 = serde_json::json!({"id": id, "name": "Fix login"});
        let event = decode_as::<Renamed>(1, v1).expect("upcast from v1");
        let typed = event.downcast_ref::<Renamed>().expect("Renamed");
        assert_eq!(typed.title, "Fix login");
        assert_eq!(event.version(), 2);
        let v2 = serde_json::json!({"id": id, "title": "Fix sign-in"});
        assert!(decode_as::<Renamed>(2, v2).is_ok());
        assert!(decode_as::<Renamed>(3, serde_json::json!({})).is_err());
        // Types without an upcaster refuse versions they do not know.
        let err = decode("card.moved", 7, serde_json::json!({})).expect_err("no upcaster");
        assert!(err.to_string().contains("version 7"), "{err}");
    }

    #[test]
    fn data_of_the_wrong_shape_is_an_error() {
        let err = decode("card.moved", 1, serde_json::json!({"card": 3})).expect_err("bad");
        assert!(err.to_string().contains("card.moved"));
    }
}
