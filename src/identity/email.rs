//! E-mail addresses, parsed once and normalised (trimmed, lower-case).

use crate::error::{Error, Result};

/// Longest address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// A syntactically plausible e-mail address. Whether it really receives mail is proved
/// by the sign-in link sent to it, not by parsing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self> {
        let s = raw.trim().to_lowercase();
        let bad = |why: &str| Err(Error::invalid("email", why.to_owned()));
        if s.is_empty() {
            return bad("enter an e-mail address");
        }
        if s.chars().count() > MAX_EMAIL_CHARS {
            return bad("that e-mail address is too long");
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c))
        {
            return bad("an e-mail address has no spaces or brackets");
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return bad("an e-mail address looks like name@example.com");
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty() || local.contains('@') || !domain_ok {
            return bad("an e-mail address looks like name@example.com");
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A first guess at a person's name from their address: `ana.lima@…` → `Ana Lima`.
    pub fn guess_name(&self) -> String {
        let local = self.0.split('@').next().unwrap_or_default();
        let local = local.split('+').next().unwrap_or(local);
        let words: Vec<String> = local
            .split(['.', '_', '-'])
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut chars = w.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect(),
                    None => String::new(),
                }
            })
            .collect();
        if words.is_empty() {
            local.to_owned()
        } else {
            words.join(" ")
        }
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        let e = Email::parse("  Ana.Lima@Example.COM ").expect("valid");
        assert_eq!(e.as_str(), "ana.lima@example.com");
        assert_eq!(e.guess_name(), "Ana Lima");
        assert_eq!(
            Email::parse("bob+x@example.com")
                .expect("valid")
                .guess_name(),
            "Bob"
        );
    }

    #[test]
    fn malformed_addresses_are_refused_with_a_reason() {
        for raw in [
            "",
            "   ",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "ana@@example.com",
            "ana lima@example.com",
            "ana@example..com",
            "<ana@example.com>",
            "ana@.example.com",
        ] {
            match Email::parse(raw) {
                Err(Error::Invalid { field: "email", .. }) => {}
                other => panic!("{raw:?} gave {other:?}"),
            }
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
