//! OpenAI wire types (the client side). Requests keep unknown fields so that the gateway can
//! name them in a 400 instead of silently dropping them.

pub mod chat;
pub mod conversations;
pub mod models;
pub mod request;
pub mod response;
