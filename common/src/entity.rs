//! sea-orm entities, one module per table of `migrations/`.

pub mod friend_requests;
pub mod friendships;
pub mod group_members;
pub mod groups;
pub mod messages;
pub mod users;
