//! Checks shared by the domain's text inputs.

use crate::error::{Error, Result};

/// A required single-line name or title: trimmed, 1..=`max` characters, no control
/// characters.
pub fn single_line(field: &'static str, raw: &str, max: usize) -> Result<String> {
    let s = raw.trim();
    check_length(field, s, max, true)?;
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("the {field} cannot contain control characters"),
        ));
    }
    Ok(s.to_owned())
}

/// Free text (a description, a comment, a reason): at most `max` characters; may be
/// empty only when `required` is false. Line breaks and tabs are text; other control
/// characters are not (PostgreSQL cannot even store U+0000 in text).
pub fn text(field: &'static str, raw: &str, max: usize, required: bool) -> Result<String> {
    let s = raw.trim_end();
    check_length(field, s, max, required)?;
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Error::invalid(
            field,
            format!(
                "the {field} cannot contain control characters other than line breaks and tabs"
            ),
        ));
    }
    Ok(s.to_owned())
}

/// `s` is at most `max` characters and, when `required`, not blank.
fn check_length(field: &'static str, s: &str, max: usize, required: bool) -> Result<()> {
    if required && s.trim().is_empty() {
        return Err(Error::invalid(
            field,
            format!("the {field} cannot be empty"),
        ));
    }
    let n = s.chars().count();
    if n > max {
        return Err(Error::invalid(
            field,
            format!("at most {max} characters (this one has {n})"),
        ));
    }
    Ok(())
}

/// Percent-encodes a query-string value (`application/x-www-form-urlencoded`).
pub fn query_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            single_line("title", "  Fix login ", 10).expect("ok"),
            "Fix login"
        );
        assert!(single_line("title", "   ", 10).is_err());
        assert!(single_line("title", "abcdefghijk", 10).is_err());
        assert!(single_line("title", "a\u{7}b", 10).is_err());
        assert_eq!(text("body", "", 10, false).expect("ok"), "");
        assert!(text("body", "  ", 10, true).is_err());
        assert_eq!(text("body", "a\n\tb\r\n", 10, true).expect("ok"), "a\n\tb");
        assert!(text("body", "a\u{0}b", 10, true).is_err());
        assert!(text("body", "a\u{1b}[31mb", 20, true).is_err());
        assert!(single_line("title", "a\u{0}b", 10).is_err());
        assert_eq!(query_encode("ana+x@example.com"), "ana%2Bx%40example.com");
    }
}
