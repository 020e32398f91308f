//! Who is asking: access tokens ([`Tokens`]) checked against the revoked
//! sessions every node keeps in memory ([`revocations`]), sessions stored in Postgres
//! ([`sessions`]), single-use tickets for browsers' WebSockets
//! ([`tickets`]), and the limits on log-in and sign-up ([`limits`]).

pub mod limits;
pub mod revocations;
pub mod sessions;
pub mod tickets;
mod tokens;

pub use tokens::Tokens;

#[cfg(test)]
mod tests;
