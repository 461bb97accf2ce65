//! mastra-gateway: OpenAI's Responses and Conversations APIs in front of Mastra agents.
//!
//! Layers, each importing only those below it (README, Layout):
//! `http` (listeners, router, bodies, admin) → `api` (one adapter per API family) → `plan` (who
//! calls, which agent, upstream and thread; keys and limits) → `engine` (running a turn, relaying
//! its stream) and `state` (caches) → `mastra` (the upstream client, upstream set, wire types) →
//! `translate` (pure OpenAI ⇄ Mastra functions) → `openai`, `config`, `error`, `telemetry`,
//! `shutdown`.

pub mod api;
pub mod config;
pub mod engine;
pub mod error;
pub mod healthcheck;
pub mod http;
pub mod mastra;
pub mod openai;
pub mod plan;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod translate;
