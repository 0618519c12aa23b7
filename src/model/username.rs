//! Usernames: the second way to name an account at sign-in, beside the e-mail address.

use std::fmt;

use crate::error::FieldProblem;

/// Maximum length of a username, in code points.
pub const USERNAME_MAX: usize = 64;

/// A username: 1 to [`USERNAME_MAX`] code points, no `@` (so a login tells e-mail addresses and
/// usernames apart), no spaces or control characters. Unique per organization case-insensitively:
/// it is kept case-folded.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Username(String);

impl Username {
    /// Parses a username and folds its case.
    ///
    /// # Errors
    /// [`FieldProblem`] when it is empty, too long, or has `@`, spaces or control characters.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        if s.is_empty() {
            return Err(FieldProblem::Empty);
        }
        if s.chars().count() > USERNAME_MAX {
            return Err(FieldProblem::TooLong { max: USERNAME_MAX });
        }
        if s.chars().any(char::is_control) {
            return Err(FieldProblem::ControlCharacters);
        }
        if s.chars().any(|c| c.is_whitespace() || c == '@') {
            return Err(FieldProblem::Format("must not contain spaces or @"));
        }
        Ok(Self(s.to_lowercase()))
    }

    /// The case-folded username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
