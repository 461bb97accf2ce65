//! Resolving a call: who is calling (keys, tenants), what it may do (limits), and the
//! services every adapter shares.
//!
//! What every handler shares. The gateway holds the current [`AppState`] in an [`ArcSwap`]: each
//! request takes one snapshot and uses it to the end, and a config reload (SIGHUP) swaps in a new
//! one atomically while in-flight requests finish on the old.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub mod agents;
pub mod auth;
pub mod input;
pub mod limits;
pub mod resolve;
pub mod tenancy;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::error::{ApiError, StartError};
use crate::mastra::upstreams::UpstreamSet;
use crate::plan::auth::{Caller, Keyring, OPEN_WARNING};
use crate::plan::limits::{Limits, RateRecord};
use crate::state::caches::{AgentCache, ConversationCache, ItemPositionCache, ResponseCache};

pub struct AppState {
    pub config: Config,
    /// The Mastra servers and which one holds what.
    pub upstreams: UpstreamSet,
    pub agents: AgentCache,
    /// Conversation lookups (DESIGN.md §3).
    pub conversations: ConversationCache,
    /// Where listed/created conversation items sit in their threads (paging cursors).
    pub item_positions: ItemPositionCache,
    /// Response id → its thread and agent (tenant checks).
    pub responses: ResponseCache,
    /// The API keys (empty: open gateway).
    pub auth: Keyring,
    /// The rate limiters and stream caps.
    pub limits: Limits,
    /// Unix time the process started: the `created` of model objects (agents have none).
    pub started_at: u64,
    /// Set on shutdown: readiness turns false so load balancers stop sending traffic.
    pub draining: Arc<AtomicBool>,
}

/// The swappable current state.
pub type LiveState = Arc<ArcSwap<AppState>>;

impl AppState {
    pub fn new(config: Config) -> Result<Self, StartError> {
        let upstreams = UpstreamSet::new(&config)?;
        let agents = AgentCache::new(config.models.cache_ttl);
        let conversations = ConversationCache::new(
            config.cache.conversation_ttl,
            config.cache.conversation_max_entries,
        );
        let item_positions = ItemPositionCache::new(
            config.cache.item_position_ttl,
            config.cache.item_position_max_entries,
        );
        let responses =
            ResponseCache::new(config.cache.response_ttl, config.cache.response_max_entries);
        let auth = Keyring::new(&config.auth);
        if auth.is_open() {
            tracing::warn!("{OPEN_WARNING}");
        } else {
            tracing::info!(keys = auth.len(), "API keys required");
        }
        let limits = Limits::new(&config, None);
        let started_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(Self {
            config,
            upstreams,
            agents,
            conversations,
            item_positions,
            responses,
            auth,
            limits,
            started_at,
            draining: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The state for a reloaded config. Lookup caches survive (their sizes and TTLs apply from
    /// the next restart); the agents cache is rebuilt when the upstream or its TTL changed.
    pub fn reloaded(&self, config: Config) -> Result<Self, StartError> {
        let upstreams = UpstreamSet::new(&config)?;
        let agents = if config.upstream_specs().ok() == self.config.upstream_specs().ok()
            && config.models.cache_ttl == self.config.models.cache_ttl
        {
            self.agents.clone()
        } else {
            AgentCache::new(config.models.cache_ttl)
        };
        let auth = Keyring::new(&config.auth);
        if auth.is_open() && !self.auth.is_open() {
            tracing::warn!("{OPEN_WARNING}");
        }
        // Unchanged limiters keep their state, so a reload hands out no fresh burst.
        let limits = Limits::new(&config, Some(&self.limits));
        Ok(Self {
            responses: self.responses.clone(),
            auth,
            limits,
            config,
            upstreams,
            agents,
            conversations: self.conversations.clone(),
            item_positions: self.item_positions.clone(),
            started_at: self.started_at,
            draining: self.draining.clone(),
        })
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// What a handler knows about the request beyond its body: the caller, and the record the
/// rate limiters write into (turned into `x-ratelimit-*` / `retry-after` headers).
pub struct Access<'a> {
    pub caller: Caller,
    pub rate: &'a RateRecord,
}

impl Access<'_> {
    /// `agent` (resolved from the model name `requested`) must be one the key may use; else
    /// the same 404 as an unknown model, so that the agent's existence is not revealed.
    pub fn check_agent(&self, agent: &str, requested: &str) -> Result<(), ApiError> {
        if self.caller.may_use(agent) {
            Ok(())
        } else {
            Err(ApiError::model_not_found(requested))
        }
    }
}
