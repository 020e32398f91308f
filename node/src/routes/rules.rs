//! The account rules that registration and profile edits both check, and
//! every length limit of the REST API as a named constant: the validators
//! check against these and `GET /api/limits` reports them, so a number
//! lives in one place.

use std::ops::RangeInclusive;

use crate::error::{ApiError, ApiResult, ErrorCode};

/// Length of a username (only ASCII is allowed, so bytes and characters agree).
pub const USERNAME_CHARS: RangeInclusive<usize> = 3..=32;
/// Length of a password, in characters.
pub const PASSWORD_CHARS: RangeInclusive<usize> = 8..=128;
/// Most characters of a display name, after trimming (at least one).
pub const DISPLAY_NAME_CHARS: usize = 64;
/// Most characters of a bio.
pub const BIO_CHARS: usize = 500;
/// Most characters of an avatar URL, after trimming.
pub const AVATAR_URL_CHARS: usize = 2048;
/// Most characters of a user search, after trimming and without a leading `@`.
pub const SEARCH_CHARS: usize = 32;
/// Most characters of a group name, after trimming (at least one).
pub const GROUP_NAME_CHARS: usize = 64;

/// Checks the contract's username rule.
pub fn validate_username(username: &str) -> ApiResult<()> {
    let ok = USERNAME_CHARS.contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(
            ApiError::invalid(ErrorCode::InvalidUsername).with_message(format!(
                "a username is {} to {} characters of A-Z, a-z, 0-9, '_', '.' and '-'",
                USERNAME_CHARS.start(),
                USERNAME_CHARS.end()
            )),
        )
    }
}

/// Checks the contract's password rule.
pub fn validate_password(password: &str) -> ApiResult<()> {
    if PASSWORD_CHARS.contains(&password.chars().count()) {
        Ok(())
    } else {
        Err(
            ApiError::invalid(ErrorCode::WeakPassword).with_message(format!(
                "a password is {} to {} characters",
                PASSWORD_CHARS.start(),
                PASSWORD_CHARS.end()
            )),
        )
    }
}

/// Checks a display name: 1-[`DISPLAY_NAME_CHARS`] characters, no control
/// characters, trimmed.
pub fn validate_display_name(name: String) -> ApiResult<String> {
    let name = name.trim();
    if (1..=DISPLAY_NAME_CHARS).contains(&name.chars().count())
        && !name.chars().any(char::is_control)
    {
        Ok(name.to_owned())
    } else {
        Err(
            ApiError::invalid(ErrorCode::InvalidDisplayName).with_message(format!(
                "a display name is 1 to {DISPLAY_NAME_CHARS} characters, without control characters"
            )),
        )
    }
}
