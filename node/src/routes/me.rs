//! The caller's own account: read and edit the profile, change the password.

use axum::extract::State;
use axum::http::StatusCode;
use confab_common::entity::users;
use sea_orm::TransactionTrait;
use serde::{Deserialize, Deserializer};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::revocations::Revoked;
use crate::auth::sessions::{self, Which};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{AuthSession, AuthUser, Json};
use crate::routes::document::BUSY_HASHING;
use crate::routes::rules::{AVATAR_URL_CHARS, BIO_CHARS, validate_display_name, validate_password};
use crate::routes::sessions::revoke;
use crate::routes::users::Profile;
use crate::routes::{events, groups};
use crate::state::AppState;
use crate::store::accounts::{self, Deleted};
use crate::store::{self, users::ProfileEdit};
use confab_common::UserId;
use confab_common::wire::EventKind;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, patch_me, delete_me))
        .routes(routes!(change_password))
}

/// The caller's account. A valid token whose user is gone (a database reset
/// under the same secret) is answered like an invalid token.
async fn load_me(state: &AppState, me: UserId) -> ApiResult<users::Model> {
    store::users::find(&state.db, me).await?.ok_or_else(|| {
        ApiError::unauthorized(ErrorCode::InvalidToken)
            .with_message("the token's account does not exist")
    })
}

/// Checks a bio: at most [`BIO_CHARS`] characters; line breaks and tabs are fine, other
/// control characters (NUL above all, which Postgres text cannot hold) are
/// not. Empty clears it.
fn validate_bio(bio: Option<String>) -> ApiResult<Option<String>> {
    match bio {
        Some(bio)
            if bio.chars().count() > BIO_CHARS
                || bio
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
        {
            Err(ApiError::invalid(ErrorCode::InvalidBio).with_message(format!(
                "a bio is at most {BIO_CHARS} characters, without control characters other than line breaks and tabs"
            )))
        }
        Some(bio) if bio.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// Checks an avatar URL: an absolute http(s) URL of at most
/// [`AVATAR_URL_CHARS`] characters (as the column's CHECK counts, and as a
/// form's `maxlength` can enforce); empty clears it.
fn validate_avatar_url(url: Option<String>) -> ApiResult<Option<String>> {
    let Some(url) = url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let valid = url.chars().count() <= AVATAR_URL_CHARS
        && !url.chars().any(char::is_control)
        && url::Url::parse(&url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
    if valid {
        Ok(Some(url))
    } else {
        Err(ApiError::invalid(ErrorCode::InvalidAvatarUrl).with_message(format!(
            "an avatar URL is an absolute http or https URL of at most {AVATAR_URL_CHARS} characters"
        )))
    }
}

/// The caller's profile.
#[utoipa::path(
    get, path = "/api/me", tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Profile),
    )
)]
async fn get_me(State(state): State<AppState>, AuthUser(me): AuthUser) -> ApiResult<Json<Profile>> {
    Ok(Json(load_me(&state, me).await?.into()))
}

/// A profile edit: absent fields stay as they are; `null` or `""` clears
/// `bio` and `avatar_url`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ProfilePatch {
    /// Cannot be cleared: `null` is refused.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    avatar_url: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Edits the caller's profile.
#[utoipa::path(
    patch, path = "/api/me", tag = "me",
    request_body = ProfilePatch,
    security(("bearer" = [])),
    responses(
        (status = 200, body = Profile),
        (status = 400, body = ErrorBody, description = "malformed_body"),
        (status = 422, body = ErrorBody, description = "invalid_display_name, invalid_bio, invalid_avatar_url, invalid_field"),
    )
)]
async fn patch_me(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Json(patch): Json<ProfilePatch>,
) -> ApiResult<Json<Profile>> {
    // Validate everything before touching anything.
    let display_name = match patch.display_name {
        Some(Some(name)) => Some(validate_display_name(name)?),
        Some(None) => {
            return Err(ApiError::invalid(ErrorCode::InvalidDisplayName)
                .with_message("a display name cannot be cleared"));
        }
        None => None,
    };
    let bio = patch.bio.map(validate_bio).transpose()?;
    let avatar_url = patch.avatar_url.map(validate_avatar_url).transpose()?;

    let user = load_me(&state, me).await?;
    let edit = ProfileEdit {
        display_name,
        bio,
        avatar_url,
    };
    let user = store::users::edit_profile(&state.db, user, edit).await?;
    Ok(Json(user.into()))
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    old_password: String,
    /// 8-128 characters.
    new_password: String,
}

/// Changes the caller's password after checking the current one.
#[utoipa::path(
    post, path = "/api/me/password", tag = "me",
    request_body = PasswordChange,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "changed; every other session of the account is logged out"),
        (status = 403, body = ErrorBody, description = "wrong_password"),
        (status = 422, body = ErrorBody, description = "weak_password"),
        (status = 503, body = ErrorBody, description = BUSY_HASHING),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    AuthSession(me): AuthSession,
    Json(change): Json<PasswordChange>,
) -> ApiResult<StatusCode> {
    validate_password(&change.new_password)?;
    let user = checked_me(&state, me.user, change.old_password).await?;
    let hash = state.passwords.hash(change.new_password).await?;
    accounts::set_password(&state.db, user, hash).await?;
    revoke(&state, me.user, Which::AllBut(Some(me.session))).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account, once `password` is checked: 403 `wrong_password`
/// otherwise.
async fn checked_me(state: &AppState, me: UserId, password: String) -> ApiResult<users::Model> {
    let user = load_me(state, me).await?;
    let matches = state
        .passwords
        .verify(password, Some(user.password_hash.clone()))
        .await?;
    if !matches {
        return Err(ApiError::forbidden(ErrorCode::WrongPassword));
    }
    Ok(user)
}

/// The password, to confirm an account deletion.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DeleteAccount {
    password: String,
}

/// Deletes the caller's account: profile, friendships, requests and
/// memberships go (an owned group passes to its longest-standing admin,
/// else member, or is disbanded), every session is logged out and its
/// sockets closed (4401). Messages stay for the others, from "Deleted
/// account".
#[utoipa::path(
    delete, path = "/api/me", tag = "me",
    request_body = DeleteAccount,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, body = ErrorBody, description = "wrong_password"),
        (status = 503, body = ErrorBody, description = BUSY_HASHING),
    )
)]
async fn delete_me(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Json(body): Json<DeleteAccount>,
) -> ApiResult<StatusCode> {
    checked_me(&state, me, body.password).await?;
    let txn = state.db.begin().await?;
    let deleted = accounts::delete(&txn, me).await?;
    let sessions = sessions::revoke(&txn, me, Which::AllBut(None)).await?;
    txn.commit().await?;
    state.tokens.revoked(Revoked { user: me, sessions }).await;
    tracing::info!(user_id = me.0, "account deleted");
    tell_others(&state, me, deleted).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Tells former friends and groups that `me` left, and drops the caches.
async fn tell_others(state: &AppState, me: UserId, deleted: Deleted) {
    let mut everyone = deleted.friends.clone();
    everyone.push(me);
    state.forget_friends(&everyone).await;
    let event = json!({ "user_id": me });
    events::send(state, deleted.friends, EventKind::FriendRemoved, event).await;
    for &group in &deleted.disbanded {
        state.forget_members(group).await;
    }
    for (group, owner) in deleted.groups {
        state.forget_members(group).await;
        let Ok(members) = store::groups::member_ids(&state.db, group).await else {
            continue;
        };
        let event = json!({ "group_id": group, "user_id": me });
        events::send(state, members, EventKind::MemberRemoved, event).await;
        if let Some(owner) = owner
            && let Ok(details) = groups::details(state, group, owner).await
        {
            let event = json!({ "group": &details, "user_id": owner, "role": "owner" });
            events::send(state, details.member_ids(), EventKind::RoleChanged, event).await;
        }
    }
}
