//! The history: a user's conversations with their read positions, and each
//! conversation's messages page by page. Only participants read: a group's
//! current members from the seq at which they joined, a direct pair's two
//! users (also after they stop being friends).

use axum::extract::State;
use confab_common::wire::Target;
use confab_common::{ConvId, GroupId, Seq, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use confab_common::log::history::{self, ConversationRow, Direction};
use confab_common::log::{self, Row, reads};

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{AuthUser, Json, Path, Query};
use crate::state::AppState;
use crate::store::{groups, users};

/// Most conversations or messages per page.
const MAX_LIMIT: u64 = 200;
/// Conversations or messages per page by default.
const DEFAULT_LIMIT: u64 = 50;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_conversations))
        .routes(routes!(direct_messages))
        .routes(routes!(group_messages))
}

/// Whom a conversation is with, or whom a message is to: `{"user": id}`
/// or `{"group": id}`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum With {
    User(UserId),
    Group(GroupId),
}

impl From<Target> for With {
    fn from(target: Target) -> Self {
        match target {
            Target::User(u) => Self::User(u),
            Target::Group(g) => Self::Group(g),
        }
    }
}

/// A stored message.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryMessage {
    /// The message id, a decimal string.
    msg_id: String,
    /// Its place in the conversation: 1, 2, 3, … with no gaps.
    seq: i64,
    from: UserId,
    to: With,
    body: String,
    /// Unix milliseconds at which the node accepted it.
    ts: i64,
}

impl HistoryMessage {
    fn from_row(row: Row) -> Option<Self> {
        let logged = row.into_logged()?;
        let m = logged.message;
        Some(Self {
            msg_id: m.msg_id.to_string(),
            seq: m.seq.map_or(0, |s| s.0),
            from: m.from,
            to: m.to.into(),
            body: m.body,
            ts: m.ts,
        })
    }
}

/// One of the caller's conversations.
#[derive(Debug, Serialize, ToSchema)]
pub struct Conversation {
    /// The other user of a direct conversation, or the group.
    with: With,
    /// The seq of the newest message (0: none yet).
    last_seq: i64,
    /// How far the caller has read.
    read_seq: i64,
    /// Messages of others after `read_seq` (counted up to 10,000).
    unread: i64,
    /// The newest message, if the caller may read it.
    last_message: Option<HistoryMessage>,
    /// How far the other user has read (direct conversations only).
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_read_seq: Option<i64>,
}

impl Conversation {
    fn from_row(me: UserId, row: ConversationRow) -> Option<Self> {
        let last_message = row.last_message().and_then(HistoryMessage::from_row);
        let (with, peer_read_seq) = match (row.group_id, row.user_lo, row.user_hi) {
            (Some(g), _, _) => (With::Group(GroupId(g)), None),
            (None, Some(lo), Some(hi)) => {
                let peer = if lo == me.0 { hi } else { lo };
                (
                    With::User(UserId(peer)),
                    Some(row.peer_read_seq.unwrap_or(0)),
                )
            }
            _ => return None,
        };
        Some(Self {
            with,
            last_seq: row.last_seq,
            read_seq: row.read_seq,
            unread: row.unread,
            last_message,
            peer_read_seq,
        })
    }
}

/// How many conversations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// 1-200, default 50.
    limit: Option<u64>,
}

/// A page of a conversation's messages.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// Messages older than this seq, newest first.
    before_seq: Option<i64>,
    /// Messages newer than this seq, oldest first.
    after_seq: Option<i64>,
    /// 1-200, default 50.
    limit: Option<u64>,
}

/// A page of history.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    messages: Vec<HistoryMessage>,
    /// The oldest seq the caller can read: anything older was before they
    /// joined, or is gone by retention.
    first_seq: i64,
    /// The newest seq.
    last_seq: i64,
    /// How far each other participant has read (for "read by N" and ✓✓);
    /// participants who read nothing yet are left out.
    reads: Vec<Read>,
}

/// A participant's read position.
#[derive(Debug, Serialize, ToSchema)]
pub struct Read {
    user: UserId,
    seq: i64,
}

fn limit(limit: Option<u64>) -> ApiResult<u64> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(ErrorCode::InvalidQuery)
            .with_message("`limit` must be between 1 and 200"));
    }
    Ok(limit)
}

/// The caller's conversations, most recent activity first.
#[utoipa::path(
    get, path = "/api/conversations", tag = "conversations",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<Conversation>),
        (status = 400, body = ErrorBody, description = "invalid_query"),
        (status = 422, body = ErrorBody, description = "invalid_query"),
    )
)]
async fn list_conversations(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Vec<Conversation>>> {
    let limit = limit(query.limit)?;
    let rows = history::conversations(&state.db, me, limit).await?;
    Ok(Json(
        rows.into_iter()
            .filter_map(|row| Conversation::from_row(me, row))
            .collect(),
    ))
}

/// Messages of the direct conversation with a user.
#[utoipa::path(
    get, path = "/api/conversations/user/{id}/messages", tag = "conversations",
    params(("id" = i64, Path, description = "The other user"), PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessagePage),
        (status = 400, body = ErrorBody, description = "invalid_query"),
        (status = 404, body = ErrorBody, description = "no_such_user, no_such_conversation (never friends)"),
        (status = 422, body = ErrorBody, description = "invalid_query"),
    )
)]
async fn direct_messages(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<i64>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<MessagePage>> {
    let other = UserId(id);
    let Some(conv) = log::conversation_of(&state.db, me, Target::User(other)).await? else {
        if other != me && users::exists(&state.db, other).await? {
            return Err(ApiError::not_found(ErrorCode::NoSuchConversation)
                .with_message("you have no conversation with this user"));
        }
        return Err(ApiError::not_found(ErrorCode::NoSuchUser));
    };
    page(&state, me, conv, query).await
}

/// Messages of a group, from when the caller joined it.
#[utoipa::path(
    get, path = "/api/conversations/group/{id}/messages", tag = "conversations",
    params(("id" = i64, Path, description = "The group"), PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessagePage),
        (status = 400, body = ErrorBody, description = "invalid_query"),
        (status = 403, body = ErrorBody, description = "not_member"),
        (status = 404, body = ErrorBody, description = "no_such_group"),
        (status = 422, body = ErrorBody, description = "invalid_query"),
    )
)]
async fn group_messages(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<i64>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<MessagePage>> {
    let group = GroupId(id);
    let Some(conv) = log::conversation_of(&state.db, me, Target::Group(group)).await? else {
        if groups::exists(&state.db, group).await? {
            return Err(ApiError::forbidden(ErrorCode::NotMember));
        }
        return Err(ApiError::not_found(ErrorCode::NoSuchGroup));
    };
    page(&state, me, conv, query).await
}

async fn page(
    state: &AppState,
    me: UserId,
    conv: ConvId,
    query: PageQuery,
) -> ApiResult<Json<MessagePage>> {
    let limit = limit(query.limit)?;
    let direction = match (query.before_seq, query.after_seq) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(ErrorCode::InvalidQuery)
                .with_message("give `before_seq` or `after_seq`, not both"));
        }
        (Some(before), None) => Direction::Before(Seq(before)),
        (None, Some(after)) => Direction::After(Seq(after)),
        (None, None) => Direction::Before(Seq(i64::MAX)),
    };
    let Some(readable) = history::readable(&state.db, me, conv).await? else {
        return Err(ApiError::not_found(ErrorCode::NoSuchConversation));
    };
    let rows = history::messages(&state.db, readable, direction, limit).await?;
    let reads = reads::reads(&state.db, me, conv).await?;
    Ok(Json(MessagePage {
        reads: reads
            .into_iter()
            .map(|r| Read {
                user: r.user,
                seq: r.seq.0,
            })
            .collect(),
        messages: rows
            .into_iter()
            .filter_map(HistoryMessage::from_row)
            .collect(),
        first_seq: readable.first_seq.0,
        last_seq: readable.last_seq.0,
    }))
}
