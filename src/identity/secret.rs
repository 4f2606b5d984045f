//! Secrets handed to people (link tokens, codes, session cookies) and their stored form.
//! Only a SHA-256 hash of a secret is ever written to the database, so a copy of the
//! database signs nobody in.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Bytes of randomness in a token: 256 bits.
const TOKEN_BYTES: usize = 32;

/// A URL-safe random token (43 characters) from the operating system's CSPRNG.
pub(crate) fn random_token() -> Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Config(format!("no secure randomness available: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A six-digit code, uniformly distributed (rejection sampling, no modulo bias).
pub(crate) fn random_code() -> Result<String> {
    const RANGE: u32 = 1_000_000;
    let limit = u32::MAX - (u32::MAX % RANGE);
    loop {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::Config(format!("no secure randomness available: {e}")))?;
        let n = u32::from_le_bytes(bytes);
        if n < limit {
            return Ok(format!("{:06}", n % RANGE));
        }
    }
}

/// The stored form of a secret. `context` separates kinds of secret (a code hashed for
/// one sign-in request cannot match another's).
pub(crate) fn hash(context: &[u8], secret: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update((context.len() as u64).to_le_bytes());
    h.update(context);
    h.update(secret.as_bytes());
    h.finalize().to_vec()
}

/// Whether `s` could be a token we issued: cheap to check before touching the database.
pub(crate) fn looks_like_token(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = random_token().expect("token");
        let b = random_token().expect("token");
        assert_ne!(a, b);
        assert!(looks_like_token(&a), "{a}");
        assert!(!looks_like_token("short"));
        assert!(!looks_like_token(&format!("{}=", &a[..42])));
    }

    #[test]
    fn codes_have_six_digits() {
        for _ in 0..100 {
            let c = random_code().expect("code");
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn hashes_depend_on_context() {
        assert_ne!(hash(b"a", "123456"), hash(b"b", "123456"));
        assert_eq!(hash(b"a", "123456"), hash(b"a", "123456"));
    }
}
