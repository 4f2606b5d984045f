//! Parsed account names and slugs: once constructed, always valid.

use crate::error::{Error, Result};

/// Longest account name, in characters.
pub const MAX_ACCOUNT_NAME_CHARS: usize = 80;

/// An account's display name: trimmed, 1–80 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountName(String);

impl AccountName {
    pub fn parse(raw: &str) -> Result<Self> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Error::invalid("name", "the account needs a name"));
        }
        let chars = name.chars().count();
        if chars > MAX_ACCOUNT_NAME_CHARS {
            return Err(Error::invalid(
                "name",
                format!("at most {MAX_ACCOUNT_NAME_CHARS} characters (this one has {chars})"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(Error::invalid("name", "control characters are not allowed"));
        }
        Ok(AccountName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The URL segment of an account (`/acme-inc/…`): lowercase ASCII letters, digits and
/// single hyphens, derived from the name (`team` when the name has no ASCII letter or
/// digit). Uniqueness is settled when the account is stored, by numbering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSlug(String);

/// First path segments the site itself uses; a team named like one gets `-team` added.
pub const RESERVED_SLUGS: &[&str] = &[
    "admin",
    "api",
    "assets",
    "dev",
    "events",
    "favicon-ico",
    "healthz",
    "invitations",
    "me",
    "new",
    "pkg",
    "public",
    "settings",
    "sign-in",
    "sign-out",
    "static",
    "stream",
    "track",
    "welcome",
];

impl AccountSlug {
    pub fn from_name(name: &AccountName) -> Self {
        Self::from_str_lossy(name.as_str())
    }

    fn from_str_lossy(s: &str) -> Self {
        let mut slug = String::with_capacity(s.len());
        for c in s.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        while slug.ends_with('-') {
            slug.pop();
        }
        slug.truncate(48);
        while slug.ends_with('-') {
            slug.pop();
        }
        if slug.is_empty() {
            slug.push_str("team");
        }
        if RESERVED_SLUGS.contains(&slug.as_str()) {
            slug.push_str("-team");
        }
        AccountSlug(slug)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `n`th candidate for this slug: `acme`, `acme-2`, `acme-3`, …
    pub(crate) fn numbered(&self, n: u32) -> String {
        if n <= 1 {
            self.0.clone()
        } else {
            format!("{}-{n}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed() {
        assert_eq!(
            AccountName::parse("  Acme  ").map(|n| n.0).ok(),
            Some("Acme".to_owned())
        );
    }

    #[test]
    fn empty_long_and_control_names_are_refused() {
        assert!(AccountName::parse("   ").is_err());
        assert!(AccountName::parse(&"x".repeat(81)).is_err());
        assert!(AccountName::parse(&"é".repeat(80)).is_ok());
        assert!(AccountName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn slugs_are_url_safe() {
        let name = AccountName::parse("Acme, Inc. — Ünited  Team").expect("valid");
        assert_eq!(
            AccountSlug::from_name(&name).as_str(),
            "acme-inc-nited-team"
        );
        let name = AccountName::parse("日本チーム").expect("valid");
        assert_eq!(AccountSlug::from_name(&name).as_str(), "team");
        let name = AccountName::parse("Sign in").expect("valid");
        assert_eq!(AccountSlug::from_name(&name).as_str(), "sign-in-team");
    }
}
