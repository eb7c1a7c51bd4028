//! Parsed inputs: an `Email` or a `Password` can only exist when valid. The rules are the
//! shared ones in `app::validation`; a broken rule is a 422 naming the field.

use app::validation::{self, Checks};

use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Trims and lower-cases, then checks the shape a mailbox needs (and that lettre can
    /// address it, which only the server can tell).
    pub fn parse(raw: &str) -> AppResult<Self> {
        let mut checks = Checks::default();
        let email = Self::check(&mut checks, raw);
        checks.finish()?;
        email.ok_or_else(|| AppError::internal("a passing check returned no email"))
    }

    /// Records a problem in `checks` instead of failing, for forms with several fields.
    pub fn check(checks: &mut Checks, raw: &str) -> Option<Self> {
        checks.take(validation::email(raw).and_then(|email| match email.parse::<lettre::Address>() {
            Ok(_) => Ok(Email(email)),
            Err(_) => Err(validation::invalid_email()),
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub struct Password(String);

impl Password {
    pub fn check(checks: &mut Checks, raw: &str) -> Option<Self> {
        checks.take(validation::password(raw)).map(|()| Password(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A six-digit code as typed (spaces allowed).
pub fn parse_code(raw: &str) -> AppResult<String> {
    validation::code(raw).map_err(AppError::from)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn emails_lettre_cannot_address_are_refused_on_the_email_field() {
        assert_eq!(Email::parse("  Bob@Example.COM ").unwrap().as_str(), "bob@example.com");
        let Err(AppError::Validation { fields, .. }) = Email::parse("bob\"@x.com") else { panic!("accepted") };
        assert_eq!(fields[0].field, "email");
    }

    #[test]
    fn a_form_reports_every_field_at_once() {
        let mut checks = Checks::default();
        assert!(Email::check(&mut checks, "nope").is_none());
        assert!(Password::check(&mut checks, "short").is_none());
        let e = checks.finish().unwrap_err();
        assert_eq!(e.fields.len(), 2);
    }
}
