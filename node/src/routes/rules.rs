//! The account rules that registration and profile edits both check.

use crate::error::{ApiError, ApiResult};

/// Checks the contract's username rule.
pub fn validate_username(username: &str) -> ApiResult<()> {
    let ok = (3..=32).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "invalid_username",
            "a username is 3 to 32 characters of A-Z, a-z, 0-9, '_', '.' and '-'",
        ))
    }
}

/// Checks the contract's password rule.
pub fn validate_password(password: &str) -> ApiResult<()> {
    if (8..=128).contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "weak_password",
            "a password is 8 to 128 characters",
        ))
    }
}

/// Checks a display name: 1-64 characters, no control characters, trimmed.
pub fn validate_display_name(name: String) -> ApiResult<String> {
    let name = name.trim();
    if (1..=64).contains(&name.chars().count()) && !name.chars().any(char::is_control) {
        Ok(name.to_owned())
    } else {
        Err(ApiError::invalid(
            "invalid_display_name",
            "a display name is 1 to 64 characters, without control characters",
        ))
    }
}
