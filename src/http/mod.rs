//! The HTTP surface: listeners and drain, the route table with the per-request layers, request
//! bodies, and the admin listener.

pub mod admin;
pub mod body;
pub mod router;
pub mod server;
