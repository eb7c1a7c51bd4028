//! Parsed inputs: an `Email` or a `Password` can only exist when valid.

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Trims and lower-cases, then checks the shape a mailbox needs.
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let email = raw.trim().to_lowercase();
        let invalid = || AppError::BadRequest("Enter a valid email address.".into());
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || local.len() > 64
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains('@')
            || email.parse::<lettre::Address>().is_err()
        {
            return Err(invalid());
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let chars = raw.chars().count();
        if chars < 8 {
            return Err(AppError::BadRequest("The password must be at least 8 characters.".into()));
        }
        if chars > 128 {
            return Err(AppError::BadRequest("The password must be at most 128 characters.".into()));
        }
        Ok(Password(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: optional, trimmed, at most 80 characters.
pub fn parse_name(raw: Option<&str>) -> Result<Option<String>, AppError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(n) if n.chars().count() > 80 => Err(AppError::BadRequest("The name must be at most 80 characters.".into())),
        Some(n) if n.chars().any(char::is_control) => Err(AppError::BadRequest("The name contains control characters.".into())),
        Some(n) => Ok(Some(n.to_string())),
    }
}

/// A six-digit code as typed (spaces allowed).
pub fn parse_code(raw: &str) -> Result<String, AppError> {
    let code: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(AppError::BadRequest("The code is the 6 digits from the email.".into()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("  Bob@Example.COM ").unwrap().as_str(), "bob@example.com");
        for bad in ["", "bob", "bob@", "@x.com", "bob@localhost", "a b@x.com", "bob@x..", "bob@@x.com"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn passwords_need_eight_to_128_chars() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(Password::parse("long enough").is_ok());
    }

    #[test]
    fn codes_are_six_digits() {
        assert_eq!(parse_code("123 456").unwrap(), "123456");
        assert!(parse_code("12345").is_err());
        assert!(parse_code("abcdef").is_err());
    }
}
