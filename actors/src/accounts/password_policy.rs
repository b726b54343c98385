//! The password policy of API.md ("Account and token rules"): a new password
//! has at least [`MIN_PASSWORD_CHARS`] characters and is not among the most
//! common leaked passwords (the list in `common_passwords.txt`, shipped in
//! the binary). It applies to every new password (registration, the
//! configured admin's, the demo accounts'), never to a login: accounts made
//! under an older policy keep logging in with the password they have.
//!
//! Each refusal is a `Validation` error whose message names the rule, so the
//! client is told what to change (400 VALIDATION_ERROR).

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::error::{EngineError, EngineResult};

/// Fewest characters (Unicode scalar values) in a new password.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most characters in a password: an input bound, so hashing cost is bounded.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// The common-password list: one lowercase password a line, `#` comments.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// The list as a set, built on first use.
fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    })
}

/// Whether `password` is among the most common ones: on the list (compared
/// lowercase, as guessers try every case), or one character repeated
/// (`aaaaaaaaaaaa`, twelve spaces), which every leaked list is full of.
pub fn is_common_password(password: &str) -> bool {
    let mut chars = password.chars();
    let repeated = chars.next().is_some_and(|first| chars.all(|c| c == first));
    repeated || common_passwords().contains(password.to_lowercase().as_str())
}

/// `Ok` when `password` may be set as a new password; otherwise a
/// `Validation` error naming the rule it breaks.
pub fn check_new_password(password: &str) -> EngineResult<()> {
    let chars = password.chars().count();
    let refuse = |why: String| Err(EngineError::Validation(why));
    if chars < MIN_PASSWORD_CHARS {
        return refuse(format!(
            "password must have at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return refuse(format!(
            "password must have at most {MAX_PASSWORD_CHARS} characters"
        ));
    }
    if is_common_password(password) {
        return refuse(
            "password must not be one of the most common leaked passwords; choose another".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_each_rule_it_refuses() {
        let message = |p: &str| match check_new_password(p) {
            Err(EngineError::Validation(m)) => m,
            other => panic!("{p:?}: expected a refusal, got {other:?}"),
        };
        for short in ["", "12345678", "password", "        ", "eleven-char"] {
            assert!(
                message(short).contains("at least 12 characters"),
                "{short:?}"
            );
        }
        assert!(message(&"x".repeat(129)).contains("at most 128"));
        for common in [
            "password1234",
            "PASSWORD1234",
            "123456789012",
            "qwertyuiop123",
            "            ",
            "aaaaaaaaaaaaaaaa",
        ] {
            assert!(message(common).contains("most common"), "{common:?}");
        }
        assert_eq!(check_new_password("violet-harbour-4711"), Ok(()));
        assert_eq!(check_new_password("twelve chars"), Ok(()));
    }

    #[test]
    fn the_list_is_lowercase_and_sizeable() {
        let set = common_passwords();
        assert!(set.len() >= 300, "{} entries", set.len());
        for entry in set {
            assert_eq!(
                entry.to_lowercase(),
                *entry,
                "compared lowercase: {entry:?}"
            );
        }
    }
}
