//! The Mastra side: wire types, the upstream HTTP client, and the SSE decoder for its streams.

pub mod client;
pub mod memory;
pub mod path;
pub mod sse;
pub mod types;
pub mod upstreams;
