//! The rules for what a person types (email, password, name, code, title, profile), written
//! once: the server enforces them and answers 422 with `fields`; the browser runs the same
//! functions before a round trip.

use crate::wire::{
    chat::MAX_TITLE_CHARS,
    error::{ApiError, FieldError},
};

fn problem(field: &str, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

/// Trimmed and lower-cased, with the shape a mailbox needs.
pub fn email(raw: &str) -> Result<String, FieldError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && local.len() <= 64
                && domain.len() >= 3
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
                && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err(invalid_email())
    }
}

/// The problem of an address that cannot receive mail.
pub fn invalid_email() -> FieldError {
    problem("email", "Enter a valid email address, like you@example.com.")
}

pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 128;

pub fn password(raw: &str) -> Result<(), FieldError> {
    match raw.chars().count() {
        n if n < PASSWORD_MIN_CHARS => {
            Err(problem("password", format!("The password must be at least {PASSWORD_MIN_CHARS} characters.")))
        }
        n if n > PASSWORD_MAX_CHARS => {
            Err(problem("password", format!("The password must be at most {PASSWORD_MAX_CHARS} characters.")))
        }
        _ => Ok(()),
    }
}

pub const NAME_MAX_CHARS: usize = 80;

/// A display name: optional, trimmed.
pub fn name(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(n) if n.chars().count() > NAME_MAX_CHARS => {
            Err(problem("name", format!("The name must be at most {NAME_MAX_CHARS} characters.")))
        }
        Some(n) if n.chars().any(char::is_control) => Err(problem("name", "The name contains control characters.")),
        Some(n) => Ok(Some(n.to_string())),
    }
}

/// The six digits of an emailed code, as typed (spaces allowed).
pub fn code(raw: &str) -> Result<String, FieldError> {
    let code: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(problem("code", "The code is the 6 digits from the email."))
    }
}

/// A session title: whitespace collapsed, 1 to `MAX_TITLE_CHARS` characters.
pub fn title(raw: &str) -> Result<String, FieldError> {
    let title = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if title.is_empty() {
        return Err(problem("title", "The title cannot be empty."));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(problem("title", format!("The title must be at most {MAX_TITLE_CHARS} characters.")));
    }
    Ok(title)
}

/// A remembered fact: at most `MAX_MEMORY_CHARS` characters as sent, whitespace collapsed,
/// not empty.
pub fn memory_text(raw: &str) -> Result<String, FieldError> {
    use crate::wire::memory::MAX_MEMORY_CHARS;
    // Counted as sent, as the API document's `maxLength` counts it.
    if raw.chars().count() > MAX_MEMORY_CHARS {
        return Err(problem("text", format!("Keep it to {MAX_MEMORY_CHARS} characters.")));
    }
    let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return Err(problem("text", "Write what the coach should remember."));
    }
    Ok(text)
}

/// Runs several field checks and gathers every problem, so a form can show them all at once.
#[derive(Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    /// Keeps the value of a passing check, records the problem of a failing one.
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    /// `Ok` when every check passed, else the 422 naming each field.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid("Some fields are not valid.", self.0))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(email("  Bob@Example.COM ").unwrap(), "bob@example.com");
        for bad in ["", "bob", "bob@", "@x.com", "bob@localhost", "a b@x.com", "bob@x..", "bob@@x.com"] {
            assert_eq!(email(bad).unwrap_err().field, "email", "{bad} should be refused");
        }
    }

    #[test]
    fn passwords_need_eight_to_128_chars() {
        assert!(password("short").is_err());
        assert!(password(&"x".repeat(129)).is_err());
        assert!(password("long enough").is_ok());
    }

    #[test]
    fn codes_are_six_digits() {
        assert_eq!(code("123 456").unwrap(), "123456");
        assert!(code("12345").is_err());
        assert!(code("abcdef").is_err());
    }

    #[test]
    fn titles_are_checked() {
        assert!(title("   ").is_err());
        assert!(title(&"x".repeat(121)).is_err());
        assert_eq!(title(" Leg  day ").unwrap(), "Leg day");
    }

    #[test]
    fn checks_gather_every_problem() {
        let mut checks = Checks::default();
        assert_eq!(checks.take(email("nope")), None);
        assert_eq!(checks.take(password("short")), None);
        assert_eq!(checks.take(code("123456")), Some("123456".to_string()));
        let e = checks.finish().unwrap_err();
        assert_eq!(e.error, crate::wire::error::ErrorCode::ValidationFailed);
        assert_eq!(e.fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(), ["email", "password"]);
    }
}
