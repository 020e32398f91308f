//! Friend requests and friendships.
//!
//! A request is answered only by its addressee; accepting it creates the one
//! `friendships` row of the pair in the same transaction. The database's
//! unique indexes, not a read-then-write check, keep one pending request and
//! one friendship per pair under concurrent requests.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use confab_common::UserId;
use confab_common::entity::friend_requests::{self, Status};
use confab_common::wire::EventKind;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{AuthUser, Json, Path};
use crate::routes::events;
use crate::routes::users::{Profile, load_profiles, load_user};
use crate::state::AppState;
use crate::store::friends::{self, RequestError};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_request, list_requests))
        .routes(routes!(accept_request))
        .routes(routes!(decline_request))
        .routes(routes!(list_friends))
        .routes(routes!(remove_friend))
}

/// A friend request as the API shows it, with both users' profiles.
#[derive(Debug, Clone, Serialize, ToSchema)]
struct FriendRequest {
    id: i64,
    from: UserId,
    to: UserId,
    status: Status,
    /// Unix milliseconds.
    created_at: i64,
    /// The sender's profile.
    from_user: Profile,
    /// The addressee's profile.
    to_user: Profile,
}

impl FriendRequest {
    /// `requests` with their users' profiles (one query for all).
    async fn load(
        state: &AppState,
        requests: Vec<friend_requests::Model>,
    ) -> ApiResult<Vec<FriendRequest>> {
        let mut ids: Vec<UserId> = requests
            .iter()
            .flat_map(|r| [UserId(r.from_user_id), UserId(r.to_user_id)])
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let profiles: HashMap<UserId, Profile> = load_profiles(state, &ids)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        Ok(requests
            .into_iter()
            .filter_map(|r| {
                let (from, to) = (UserId(r.from_user_id), UserId(r.to_user_id));
                Some(FriendRequest {
                    id: r.id,
                    from,
                    to,
                    status: r.status,
                    created_at: r.created_at.timestamp_millis(),
                    from_user: profiles.get(&from)?.clone(),
                    to_user: profiles.get(&to)?.clone(),
                })
            })
            .collect())
    }

    async fn load_one(state: &AppState, request: friend_requests::Model) -> ApiResult<Self> {
        Self::load(state, vec![request])
            .await?
            .pop()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a request without its users")))
    }
}

/// A friend, with whether they are connected right now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Friend {
    user: Profile,
    online: bool,
}

/// Whom to ask.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewFriendRequest {
    user_id: i64,
}

/// The caller's pending requests.
#[derive(Debug, Serialize, ToSchema)]
struct FriendRequests {
    incoming: Vec<FriendRequest>,
    outgoing: Vec<FriendRequest>,
}

/// Asks another user to be friends.
#[utoipa::path(
    post, path = "/api/friends/requests", tag = "friends",
    request_body = NewFriendRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = FriendRequest),
        (status = 404, body = ErrorBody, description = "no_such_user"),
        (status = 409, body = ErrorBody, description = "already_friends, request_pending (either direction)"),
        (status = 422, body = ErrorBody, description = "cannot_befriend_self"),
    )
)]
async fn send_request(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Json(body): Json<NewFriendRequest>,
) -> ApiResult<(StatusCode, Json<FriendRequest>)> {
    let to = UserId(body.user_id);
    if to == me {
        return Err(ApiError::invalid(ErrorCode::CannotBefriendSelf));
    }
    load_user(&state, to).await?;
    if friends::are_friends(&state.db, me, to).await? {
        return Err(ApiError::conflict(ErrorCode::AlreadyFriends));
    }
    let request = friends::request(&state.db, me, to)
        .await
        .map_err(|e| match e {
            RequestError::Pending => ApiError::conflict(ErrorCode::RequestPending),
            RequestError::Db(e) => e.into(),
        })?;
    let request = FriendRequest::load_one(&state, request).await?;
    let event = json!({ "request": &request });
    events::send(&state, vec![to, me], EventKind::FriendRequest, event).await;
    Ok((StatusCode::CREATED, Json(request)))
}

/// The caller's pending requests, both ways, oldest first.
#[utoipa::path(
    get, path = "/api/friends/requests", tag = "friends",
    security(("bearer" = [])),
    responses(
        (status = 200, body = FriendRequests),
    )
)]
async fn list_requests(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
) -> ApiResult<Json<FriendRequests>> {
    let pending = friends::pending(&state.db, me).await?;
    let (incoming, outgoing): (Vec<_>, Vec<_>) =
        pending.into_iter().partition(|r| r.to_user_id == me.0);
    Ok(Json(FriendRequests {
        incoming: FriendRequest::load(&state, incoming).await?,
        outgoing: FriendRequest::load(&state, outgoing).await?,
    }))
}

/// Marks the caller's pending request `id` as `outcome`, inside `txn`, and
/// returns it. Only the addressee may answer.
async fn answer(
    txn: &impl ConnectionTrait,
    me: UserId,
    id: i64,
    outcome: Status,
) -> ApiResult<friend_requests::Model> {
    let request = friends::lock_request(txn, id)
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::NoSuchRequest))?;
    if request.to_user_id != me.0 {
        // The sender and strangers alike; a stranger learns only that the id exists.
        return Err(ApiError::forbidden(ErrorCode::NotAddressee));
    }
    if request.status != Status::Pending {
        return Err(ApiError::conflict(ErrorCode::RequestNotPending));
    }
    Ok(friends::answer(txn, request, outcome).await?)
}

/// Accepts a request addressed to the caller; the two become friends.
#[utoipa::path(
    post, path = "/api/friends/requests/{id}/accept", tag = "friends",
    params(("id" = i64, Path, description = "friend request id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Friend),
        (status = 403, body = ErrorBody, description = "not_addressee"),
        (status = 404, body = ErrorBody, description = "no_such_request"),
        (status = 409, body = ErrorBody, description = "request_not_pending"),
    )
)]
async fn accept_request(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Friend>> {
    let txn = state.db.begin().await?;
    let request = answer(&txn, me, id, Status::Accepted).await?;
    let friend = UserId(request.from_user_id);
    friends::befriend(&txn, me, friend).await?;
    txn.commit().await?;

    state.forget_friends(&[me, friend]).await;
    answered(&state, request).await?;
    let user = load_user(&state, friend).await?;
    let online = state.online(&[friend]).await.contains(&friend);
    Ok(Json(Friend {
        user: user.into(),
        online,
    }))
}

/// Declines a request addressed to the caller.
#[utoipa::path(
    post, path = "/api/friends/requests/{id}/decline", tag = "friends",
    params(("id" = i64, Path, description = "friend request id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "declined"),
        (status = 403, body = ErrorBody, description = "not_addressee"),
        (status = 404, body = ErrorBody, description = "no_such_request"),
        (status = 409, body = ErrorBody, description = "request_not_pending"),
    )
)]
async fn decline_request(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let txn = state.db.begin().await?;
    let request = answer(&txn, me, id, Status::Declined).await?;
    txn.commit().await?;
    answered(&state, request).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tells the requester (and the addressee's devices) how a request was
/// answered.
async fn answered(state: &AppState, request: friend_requests::Model) -> ApiResult<()> {
    let users = vec![UserId(request.from_user_id), UserId(request.to_user_id)];
    let request = FriendRequest::load_one(state, request).await?;
    let event = json!({ "request": request });
    events::send(state, users, EventKind::FriendRequestAnswered, event).await;
    Ok(())
}

/// The caller's friends, by username, with their online state.
#[utoipa::path(
    get, path = "/api/friends", tag = "friends",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<Friend>),
    )
)]
async fn list_friends(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
) -> ApiResult<Json<Vec<Friend>>> {
    let ids = friends::friends_of(&state.db, me).await?;
    let profiles = load_profiles(&state, &ids).await?;
    let online = state.online(&ids).await;
    Ok(Json(
        profiles
            .into_iter()
            .map(|user| Friend {
                online: online.contains(&user.id),
                user,
            })
            .collect(),
    ))
}

/// Ends a friendship, for both sides.
#[utoipa::path(
    delete, path = "/api/friends/{user_id}", tag = "friends",
    params(("user_id" = i64, Path, description = "the friend's user id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "no longer friends"),
        (status = 404, body = ErrorBody, description = "no_such_friend"),
    )
)]
async fn remove_friend(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(user_id): Path<i64>,
) -> ApiResult<StatusCode> {
    let other = UserId(user_id);
    let ended = friends::unfriend(&state.db, me, other).await?;
    state.forget_friends(&[me, other]).await;
    if !ended {
        return Err(ApiError::not_found(ErrorCode::NoSuchFriend));
    }
    // Each side is told whom it lost.
    let event = json!({ "user_id": me });
    events::send(&state, vec![other], EventKind::FriendRemoved, event).await;
    let event = json!({ "user_id": other });
    events::send(&state, vec![me], EventKind::FriendRemoved, event).await;
    Ok(StatusCode::NO_CONTENT)
}
