//! Why an admin changed a license, for the audit log: the one place that decides what a
//! reason must be. The admin API, the console and licctl all ask it.

use super::ServiceError;

/// The most characters a reason keeps (the audit log is not a document store).
pub const MAX_REASON_CHARS: usize = 500;

/// Whether an action needs a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The action is refused without one.
    Required,
    /// One is recorded when given.
    Optional,
}

impl Need {
    /// Whether a reason must be given (for clap's `required`).
    pub const fn is_required(self) -> bool {
        matches!(self, Need::Required)
    }
}

/// A reason, trimmed and checked (possibly empty where it is optional).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reason(String);

impl Reason {
    /// Revoking a license ends it for good: say why (refund, fraud, a leaked token).
    pub const REVOKE: Need = Need::Required;
    /// Reissuing is routine support (a replaced machine): the new binding says what happened.
    pub const REISSUE: Need = Need::Optional;
    /// Taking a running program's seat back interrupts someone's work: say why.
    pub const FORCE_RELEASE: Need = Need::Required;

    /// `text` as the reason for an action that needs one as `need` says, `what` naming the
    /// action in the refusal ("the license is revoked").
    pub fn check(text: &str, need: Need, what: &str) -> Result<Reason, ServiceError> {
        let text = text.trim();
        if text.is_empty() && need.is_required() {
            return Err(ServiceError::Invalid(format!(
                "reason: required; say why {what} (refund, fraud, leaked token): it goes into the audit log"
            )));
        }
        if text.chars().count() > MAX_REASON_CHARS {
            return Err(ServiceError::Invalid(format!(
                "reason: at most {MAX_REASON_CHARS} characters"
            )));
        }
        if text.chars().any(char::is_control) {
            return Err(ServiceError::Invalid(
                "reason: one line of text, without control characters".into(),
            ));
        }
        Ok(Reason(text.to_string()))
    }

    /// The text (empty when none was given).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A clap value parser: a given reason is checked as an optional one (whether one is
    /// required is the action's to say).
    pub fn parse_arg(text: &str) -> Result<String, String> {
        Reason::check(text, Need::Optional, "")
            .map(|r| r.0)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_trimmed_bounded_and_required_only_where_the_action_says() {
        assert!(Reason::check("  ", Reason::REVOKE, "the license is revoked").is_err());
        assert_eq!(
            Reason::check(" refund ", Reason::REVOKE, "x")
                .unwrap()
                .as_str(),
            "refund"
        );
        assert_eq!(
            Reason::check("", Reason::REISSUE, "x").unwrap().as_str(),
            ""
        );
        assert!(Reason::check(&"x".repeat(501), Reason::REISSUE, "x").is_err());
        assert!(Reason::check("a\nforged line", Reason::REISSUE, "x").is_err());
    }
}
