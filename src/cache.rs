//! moka caches in front of upstream lookups. A cache only accelerates: a miss asks Mastra.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use moka::future::Cache;

use crate::error::ApiError;
use crate::mastra::client::MastraClient;
use crate::mastra::types::MastraAgents;
use crate::telemetry;
use crate::translate::models::AgentDirectory;

/// The upstream's agent list, refreshed at most once per TTL; concurrent misses share one load.
#[derive(Clone)]
pub struct AgentCache {
    cache: Cache<(), Arc<AgentDirectory>>,
}

impl AgentCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            cache: Cache::builder().max_capacity(1).time_to_live(ttl).build(),
        }
    }

    pub async fn get(
        &self,
        client: &MastraClient,
        request_id: &str,
    ) -> Result<Arc<AgentDirectory>, ApiError> {
        if let Some(dir) = self.cache.get(&()).await {
            telemetry::record_cache("agents", true);
            return Ok(dir);
        }
        telemetry::record_cache("agents", false);
        self.cache
            .try_get_with((), async {
                let reply = client
                    .call(Method::GET, "/agents", None, request_id, "agents")
                    .await?;
                let agents: MastraAgents = serde_json::from_slice(&reply.body).map_err(|e| {
                    ApiError::upstream_invalid(client.name(), format!("GET /api/agents: {e}"))
                })?;
                Ok::<_, ApiError>(Arc::new(AgentDirectory::from_mastra(agents)))
            })
            .await
            .map_err(|e: Arc<ApiError>| (*e).clone())
    }
}
