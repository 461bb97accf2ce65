//! What the gateway remembers between requests: moka caches in front of upstream lookups.

pub mod caches;
