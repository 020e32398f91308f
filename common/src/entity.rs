//! sea-orm entities of the account and social tables. The conversation
//! logs (messages, conversations, devices and positions) have no entity:
//! their statements are all in [`crate::log`].

pub mod friend_requests;
pub mod friendships;
pub mod group_members;
pub mod groups;
pub mod users;
