//! What every handler shares.

use crate::cache::{AgentCache, ConversationCache, ItemPositionCache};
use crate::config::Config;
use crate::mastra::client::MastraClient;

pub struct AppState {
    pub config: Config,
    pub mastra: MastraClient,
    pub agents: AgentCache,
    /// Conversation lookups (DESIGN.md §3).
    pub conversations: ConversationCache,
    /// Where listed/created conversation items sit in their threads (paging cursors).
    pub item_positions: ItemPositionCache,
    /// Unix time the process started: the `created` of model objects (agents have none).
    pub started_at: u64,
}

impl AppState {
    pub fn new(config: Config) -> Result<Self, reqwest::Error> {
        let mastra = MastraClient::new(&config.upstream)?;
        let agents = AgentCache::new(config.models.cache_ttl);
        let conversations = ConversationCache::new(
            config.cache.conversation_ttl,
            config.cache.conversation_max_entries,
        );
        let item_positions = ItemPositionCache::new(
            config.cache.item_position_ttl,
            config.cache.item_position_max_entries,
        );
        let started_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(Self {
            config,
            mastra,
            agents,
            conversations,
            item_positions,
            started_at,
        })
    }
}
