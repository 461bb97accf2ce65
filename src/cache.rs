//! moka caches in front of upstream lookups. A cache only accelerates: a miss asks Mastra.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use moka::future::Cache;

use crate::error::ApiError;
use crate::mastra::client::MastraClient;
use crate::mastra::memory::is_not_found;
use crate::mastra::types::MastraAgents;
use crate::telemetry;
use crate::translate::items::{ConversationInfo, ItemPos, KeyedItem};
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

/// Conversation id → what the gateway needs to serve it (agent, resource, metadata, created_at).
/// Bounded and TTL'd; the gateway's own updates replace the entry and its deletes remove it, so
/// a conversation deleted through the gateway is 404 on the very next request. A stale entry
/// never grants anything: every item route still asks Mastra for the thread's messages, and an
/// upstream 404 there removes the entry.
#[derive(Clone)]
pub struct ConversationCache {
    cache: Cache<String, Arc<ConversationInfo>>,
}

impl ConversationCache {
    pub fn new(ttl: Duration, max_entries: u64) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The conversation, from the cache or `GET /api/v1/conversations/:id`; unknown → 404
    /// `Conversation with id '…' not found.` (not cached: it may be created any time).
    pub async fn get(
        &self,
        client: &MastraClient,
        id: &str,
        request_id: &str,
    ) -> Result<Arc<ConversationInfo>, ApiError> {
        if let Some(info) = self.cache.get(id).await {
            telemetry::record_cache("conversations", true);
            return Ok(info);
        }
        telemetry::record_cache("conversations", false);
        self.cache
            .try_get_with(id.to_string(), async {
                match client.get_conversation(id, request_id).await {
                    Ok(thread) => Ok(Arc::new(ConversationInfo::from_thread(thread))),
                    Err(e) if is_not_found(&e) => Err(ApiError::conversation_not_found(id)),
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(|e: Arc<ApiError>| (*e).clone())
    }

    pub async fn insert(&self, info: ConversationInfo) -> Arc<ConversationInfo> {
        let info = Arc::new(info);
        self.cache.insert(info.id.clone(), info.clone()).await;
        info
    }

    pub async fn invalidate(&self, id: &str) {
        self.cache.invalidate(id).await;
    }
}

/// (conversation id, item id) → the item's place in the thread, recorded for every item the
/// gateway lists or creates. An items page resumes from its `after` cursor with one upstream
/// window when the cursor is here; on a miss (another replica, eviction) the thread is scanned.
#[derive(Clone)]
pub struct ItemPositionCache {
    cache: Cache<(String, String), ItemPos>,
}

impl ItemPositionCache {
    pub fn new(ttl: Duration, max_entries: u64) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
        }
    }

    pub async fn get(&self, conversation: &str, item: &str) -> Option<ItemPos> {
        let hit = self
            .cache
            .get(&(conversation.to_string(), item.to_string()))
            .await;
        telemetry::record_cache("item_positions", hit.is_some());
        hit
    }

    pub async fn record<'a>(
        &self,
        conversation: &str,
        items: impl IntoIterator<Item = &'a KeyedItem>,
    ) {
        for k in items {
            self.cache
                .insert(
                    (conversation.to_string(), k.id().to_string()),
                    k.pos.clone(),
                )
                .await;
        }
    }

    pub async fn forget(&self, conversation: &str, item: &str) {
        self.cache
            .invalidate(&(conversation.to_string(), item.to_string()))
            .await;
    }
}
