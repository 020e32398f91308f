//! Whether a user may send to a target: direct messages go to friends only,
//! group messages come from members only. Answered from the social cache
//! (`common::social`), never a database query per message.

use confab_common::UserId;
use confab_common::wire::Target;

use crate::state::AppState;

/// Whether the user may send to `to`: friends only, members only.
pub async fn authorize(
    state: &AppState,
    user: UserId,
    to: Target,
) -> Result<(), (&'static str, &'static str)> {
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "cannot check the social graph");
        (
            "unavailable",
            "the service is briefly unavailable; send again with the same id",
        )
    };
    match to {
        Target::User(other) => {
            if other != user {
                match state.social.are_friends(user, other).await {
                    Ok(true) => return Ok(()),
                    Ok(false) => {}
                    Err(e) => return Err(unavailable(&e)),
                }
            }
            match crate::routes::users::exists(state, other).await {
                Ok(false) => Err(("no_such_user", "there is no user with this id")),
                Ok(true) => Err(("not_friends", "direct messages go to friends only")),
                Err(e) => Err(unavailable(&e)),
            }
        }
        Target::Group(group) => match state.social.is_member(group, user).await {
            Ok(Some(true)) => Ok(()),
            Ok(Some(false)) => Err(("not_member", "you are not a member of this group")),
            Ok(None) => Err(("no_such_group", "there is no group with this id")),
            Err(e) => Err(unavailable(&e)),
        },
    }
}
