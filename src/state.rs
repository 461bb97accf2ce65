//! What every handler shares.

use crate::cache::AgentCache;
use crate::config::Config;
use crate::mastra::client::MastraClient;

pub struct AppState {
    pub config: Config,
    pub mastra: MastraClient,
    pub agents: AgentCache,
    /// Unix time the process started: the `created` of model objects (agents have none).
    pub started_at: u64,
}

impl AppState {
    pub fn new(config: Config) -> Result<Self, reqwest::Error> {
        let mastra = MastraClient::new(&config.upstream)?;
        let agents = AgentCache::new(config.models.cache_ttl);
        let started_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(Self {
            config,
            mastra,
            agents,
            started_at,
        })
    }
}
