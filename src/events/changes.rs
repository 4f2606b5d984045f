//! Field changes: `old → new` for each tracked field that differs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One changed field of an update event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// A type whose changes are recorded field by field: it lists the tracked fields and
/// their values as JSON (the seed's `track_fields`).
pub trait TrackFields {
    /// `(field name, value)` for every tracked field, in a stable order.
    fn tracked(&self) -> Vec<(&'static str, Value)>;
}

/// The fields that differ between `old` and `new`, in the order `tracked` lists them.
/// Untracked fields never appear; an unchanged value gives no entry.
pub fn make_field_changes<T: TrackFields>(old: &T, new: &T) -> Vec<FieldChange> {
    let before = old.tracked();
    let after = new.tracked();
    before
        .into_iter()
        .zip(after)
        .filter(|((_, o), (_, n))| o != n)
        .map(|((field, old), (_, new))| FieldChange {
            field: field.to_owned(),
            old,
            new,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Card {
        title: String,
        due: Option<String>,
        secret: u32,
    }

    impl TrackFields for Card {
        fn tracked(&self) -> Vec<(&'static str, Value)> {
            vec![("title", json!(self.title)), ("due", json!(self.due))]
        }
    }

    #[test]
    fn only_changed_tracked_fields_are_listed_old_to_new() {
        let old = Card {
            title: "Fix login".into(),
            due: None,
            secret: 1,
        };
        let new = Card {
            title: "Fix sign-in".into(),
            due: None,
            secret: 2,
        };
        assert_eq!(
            make_field_changes(&old, &new),
            vec![FieldChange {
                field: "title".into(),
                old: json!("Fix login"),
                new: json!("Fix sign-in")
            }]
        );
        let newer = Card {
            title: "Fix sign-in".into(),
            due: Some("2026-12-01".into()),
            secret: 2,
        };
        let changes = make_field_changes(&new, &newer);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "due");
        assert_eq!(changes[0].old, Value::Null);
        assert!(make_field_changes(&newer, &newer).is_empty());
        // `secret` changed between old and new, yet it is untracked so it never shows.
        assert_ne!(old.secret, new.secret);
    }
}
