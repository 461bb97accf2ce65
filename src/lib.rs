//! mastra-gateway: OpenAI's Responses API in front of Mastra agents.
//!
//! Layout (DESIGN.md §6): `openai` and `mastra` hold the two wire dialects, `translate` the pure
//! functions between them, `routes` the handlers, `router` the per-request layers, `server` the
//! listeners.

pub mod auth;
pub mod body;
pub mod cache;
pub mod config;
pub mod error;
pub mod healthcheck;
pub mod limits;
pub mod mastra;
pub mod openai;
pub mod router;
pub mod routes;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod translate;
pub mod upstreams;
