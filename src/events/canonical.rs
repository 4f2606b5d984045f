//! The canonical form of an event, and the hash that chains it to the one before.
//!
//! An event's hash is `SHA-256(prefix ‖ prev_hash ‖ canonical JSON of the row)`. The
//! canonical JSON is compact, sorts object keys at every level and writes time as Unix
//! microseconds, so it is the same whichever engine stored the row and however that
//! engine hands its JSON back. Each row records the format it was hashed with
//! (`events.hash_format`), so a change of form never breaks the chains already written:
//!
//! - **Format 1** (every event recorded before migration 0010): no prefix; numbers are
//!   written as `serde_json` writes them. A float whose text PostgreSQL's `jsonb`
//!   rewrites (`1e+16` comes back as `10000000000000000`, `-0.0` as `0.0`) no longer
//!   hashes alike once read back, so a row holding one fails `verify` on PostgreSQL.
//! - **Format 2**: the prefix is the byte `0x02`, and every number is written as a
//!   function of its value alone (see [`write_number`]), so any text of the same number
//!   — the one written, or the one `jsonb` returns — hashes alike.

use serde::Serialize;
use serde_json::{Number, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::record::Hash;
use super::Scope;

/// How an event's hash is computed; stored with each row (`events.hash_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFormat {
    /// Numbers as `serde_json` writes them; no prefix. Verified, never written.
    V1,
    /// Numbers by value; prefixed with the byte `0x02`. What `record()` writes.
    V2,
}

impl HashFormat {
    /// The format new events are hashed with.
    pub const CURRENT: HashFormat = HashFormat::V2;

    /// The format stored as `code` (`None` for a code this build does not know, which
    /// `verify` reports instead of guessing).
    pub fn from_code(code: i16) -> Option<HashFormat> {
        match code {
            1 => Some(HashFormat::V1),
            2 => Some(HashFormat::V2),
            _ => None,
        }
    }

    /// The code stored in `events.hash_format`.
    pub fn code(self) -> i16 {
        match self {
            HashFormat::V1 => 1,
            HashFormat::V2 => 2,
        }
    }
}

/// What the chain hash covers, with JSON columns as canonical text.
pub(crate) struct HashInput<'a> {
    pub(crate) format: HashFormat,
    pub(crate) account_id: Uuid,
    pub(crate) sequence: i64,
    pub(crate) id: Uuid,
    pub(crate) event_type: &'a str,
    pub(crate) schema_version: i32,
    pub(crate) subject_kind: &'a str,
    pub(crate) subject_id: Uuid,
    pub(crate) scope: Scope,
    pub(crate) actor_id: Option<Uuid>,
    pub(crate) actor_name: &'a str,
    pub(crate) data: &'a str,
    pub(crate) metadata: &'a str,
    pub(crate) batch_id: Option<Uuid>,
    pub(crate) snapshot: Option<&'a str>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) prev_hash: &'a [u8],
}

/// The one definition of an event's hash, for writing and for [`super::log::verify`].
/// The JSON columns of `e` must already be canonical text of `e.format`.
pub(crate) fn chain_hash(e: &HashInput<'_>) -> Hash {
    let mut h = HashWriter(Sha256::new());
    if e.format == HashFormat::V2 {
        h.put(&[0x02]);
    }
    h.put(e.prev_hash);
    // The top-level keys, written in sorted order; values streamed into the hash.
    let created_at = (e.created_at.unix_timestamp_nanos() / 1000) as i64;
    let fields: [(&str, &dyn Canonical); 17] = [
        ("account_id", &e.account_id),
        ("actor_id", &e.actor_id),
        ("actor_name", &e.actor_name),
        ("batch_id", &e.batch_id),
        ("board_id", &e.scope.board),
        ("card_id", &e.scope.card),
        ("created_at", &created_at),
        ("data", &Raw(e.data)),
        ("id", &e.id),
        ("metadata", &Raw(e.metadata)),
        ("project_id", &e.scope.project),
        ("sequence", &e.sequence),
        ("snapshot", &e.snapshot.map(Raw)),
        ("subject_id", &e.subject_id),
        ("subject_kind", &e.subject_kind),
        ("type", &e.event_type),
        ("version", &e.schema_version),
    ];
    h.put(b"{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            h.put(b",");
        }
        write_json(&mut h, key);
        h.put(b":");
        value.write_canonical(&mut h);
    }
    h.put(b"}");
    h.0.finalize().into()
}

/// `value` as canonical JSON text of the current format: compact, object keys sorted at
/// every level, numbers by value. What `record()` hashes and stores.
pub(crate) fn canonical_json(value: &Value) -> String {
    canonical_json_as(value, HashFormat::CURRENT)
}

/// `value` as canonical JSON text of `format` (how `verify` re-derives an old row's).
pub(crate) fn canonical_json_as(value: &Value, format: HashFormat) -> String {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value, format);
    // Only serde_json's output and ASCII punctuation went in.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Feeds bytes straight into SHA-256, so hashing allocates no buffer.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where canonical JSON goes: a hash or a buffer.
trait Sink: std::io::Write {
    fn put(&mut self, bytes: &[u8]) {
        // Neither a hasher nor a Vec fails to take bytes.
        let _ = self.write_all(bytes);
    }
}

impl<W: std::io::Write> Sink for W {}

/// JSON text that is canonical already, written as it is.
struct Raw<'a>(&'a str);

/// A top-level column in its canonical JSON form.
trait Canonical {
    fn write_canonical(&self, h: &mut dyn Sink);
}

macro_rules! canonical_as_json {
    ($($t:ty),*) => {$(
        impl Canonical for $t {
            fn write_canonical(&self, h: &mut dyn Sink) {
                write_json(h, self);
            }
        }
    )*};
}
canonical_as_json!(Uuid, Option<Uuid>, &str, i64, i32);

/// A plain value as JSON (serialising plain values into a hasher or a Vec cannot fail).
fn write_json<T: Serialize + ?Sized>(h: &mut dyn Sink, value: &T) {
    let _ = serde_json::to_writer(h, value);
}

impl Canonical for Raw<'_> {
    fn write_canonical(&self, h: &mut dyn Sink) {
        h.put(self.0.as_bytes());
    }
}

impl Canonical for Option<Raw<'_>> {
    fn write_canonical(&self, h: &mut dyn Sink) {
        match self {
            Some(raw) => raw.write_canonical(h),
            None => h.put(b"null"),
        }
    }
}

/// A JSON value in its canonical form of `format`: objects with sorted keys at every
/// level, compact, numbers as [`write_number`] says (format 2) or as `serde_json`
/// writes them (format 1).
fn write_value(h: &mut dyn Sink, value: &Value, format: HashFormat) {
    match value {
        Value::Object(map) => {
            h.put(b"{");
            let write = |i: usize, k: &String, v: &Value, h: &mut dyn Sink| {
                if i > 0 {
                    h.put(b",");
                }
                write_json(h, k);
                h.put(b":");
                write_value(h, v, format);
            };
            if map.keys().is_sorted() {
                for (i, (k, v)) in map.iter().enumerate() {
                    write(i, k, v, h);
                }
            } else {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    write(i, k, v, h);
                }
            }
            h.put(b"}");
        }
        Value::Array(items) => {
            h.put(b"[");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    h.put(b",");
                }
                write_value(h, v, format);
            }
            h.put(b"]");
        }
        Value::Number(n) if format == HashFormat::V2 => write_number(h, n),
        scalar => write_json(h, scalar),
    }
}

/// A number by its value alone (format 2). Integers are written in digits, whether they
/// arrived as integers or as floats with nothing after the point (`1e16`, `2.0`, `-0.0`
/// are `10000000000000000`, `2`, `0`) as long as they fit a 64-bit integer — which is
/// how `jsonb` returns them and `serde_json` then reads them. Every other number is a
/// float, written in its shortest text that reads back as the same float; any text of
/// the same decimal value (`1.5e-7`, `0.00000015`) reads back as that float, because
/// `serde_json` parses floats exactly (its `float_roundtrip` feature).
fn write_number(h: &mut dyn Sink, n: &Number) {
    if n.is_i64() || n.is_u64() {
        write_json(h, n);
        return;
    }
    let Some(x) = n.as_f64() else {
        write_json(h, n);
        return;
    };
    // 2^63 and 2^64 are exact in f64; integral values inside these ranges convert
    // to integers without loss (-0.0 is inside the first, and becomes 0).
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    if x.fract() == 0.0 {
        if (0.0..TWO_64).contains(&x) {
            write_json(h, &(x.abs() as u64));
            return;
        }
        if (-TWO_63..0.0).contains(&x) {
            write_json(h, &(x as i64));
            return;
        }
    }
    write_json(h, &x);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v2(value: &Value) -> String {
        canonical_json_as(value, HashFormat::V2)
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = json!({"b": 1, "a": {"d": [1, {"f": 2, "e": 3}], "c": "x"}});
        let text = r#"{"a":{"c":"x","d":[1,{"e":3,"f":2}]},"b":1}"#;
        assert_eq!(canonical_json(&value), text);
        assert_eq!(canonical_json_as(&value, HashFormat::V1), text);
        let mut h = HashWriter(Sha256::new());
        write_value(&mut h, &value, HashFormat::V2);
        assert_eq!(
            h.0.finalize().to_vec(),
            Sha256::digest(text.as_bytes()).to_vec()
        );
    }

    #[test]
    fn format_2_writes_a_number_by_its_value_whatever_its_text() {
        // Pairs of texts of one number: as Rust writes it, as jsonb returns it.
        for (written, returned) in [
            ("1e16", "10000000000000000"),
            ("-0.0", "0.0"),
            ("2.0", "2"),
            ("1.5e-7", "0.00000015"),
            ("-9.223372036854775808e18", "-9223372036854775808"),
            ("1.8446744073709552e19", "18446744073709551616"),
            ("1e300", &format!("1{}", "0".repeat(300))),
            ("0.1", "0.1"),
            ("12345678901234567890", "12345678901234567890"),
        ] {
            let a: Value = serde_json::from_str(written).expect(written);
            let b: Value = serde_json::from_str(returned).expect(returned);
            assert_eq!(v2(&a), v2(&b), "{written} and {returned}");
        }
        assert_eq!(v2(&json!(1e16)), "10000000000000000");
        assert_eq!(v2(&json!(-0.0)), "0");
        assert_eq!(v2(&json!(-3.0)), "-3");
        assert_eq!(v2(&json!(2.5)), "2.5");
        assert_eq!(v2(&json!(u64::MAX)), "18446744073709551615");
        assert_eq!(v2(&json!(i64::MIN)), "-9223372036854775808");
        // Format 1 keeps serde_json's text: what old rows were hashed with.
        assert_eq!(canonical_json_as(&json!(1e16), HashFormat::V1), "1e+16");
        assert_eq!(canonical_json_as(&json!(-0.0), HashFormat::V1), "-0.0");
    }
}
