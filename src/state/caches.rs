//! moka caches in front of upstream lookups. A cache only accelerates: a miss asks Mastra.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use moka::future::Cache;

use crate::error::ApiError;
use crate::mastra::memory::is_not_found;
use crate::mastra::path::PathId;
use crate::mastra::types::MastraAgents;
use crate::mastra::upstreams::{Held, UpstreamSet};
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

    /// The merged agent list of every upstream. An upstream that cannot list its agents is
    /// left out (and logged); only when none can is it an error.
    pub async fn get(
        &self,
        upstreams: &UpstreamSet,
        request_id: &str,
    ) -> Result<Arc<AgentDirectory>, ApiError> {
        if let Some(dir) = self.cache.get(&()).await {
            telemetry::record_cache("agents", true);
            return Ok(dir);
        }
        telemetry::record_cache("agents", false);
        self.cache
            .try_get_with((), async {
                let fetches = upstreams.clients().map(|(i, client)| async move {
                    let result = async {
                        let reply = client
                            .call(Method::GET, "/agents", None, request_id, "agents")
                            .await?;
                        serde_json::from_slice::<MastraAgents>(&reply.body).map_err(|e| {
                            ApiError::upstream_invalid(client.name(), format!("GET /api/agents: {e}"))
                        })
                    }
                    .await;
                    (i, result)
                });
                let mut lists = Vec::new();
                let mut last_error = None;
                for (i, result) in futures_util::future::join_all(fetches).await {
                    match result {
                        Ok(agents) => lists.push((i, agents)),
                        Err(e) => {
                            tracing::warn!(upstream = %upstreams.get(i).name(), error = %e.message, "cannot list agents");
                            last_error = Some(e);
                        }
                    }
                }
                if lists.is_empty() {
                    if let Some(e) = last_error {
                        return Err(e);
                    }
                }
                let dir = AgentDirectory::from_upstreams(lists, |i, a| upstreams.serves(i, a));
                upstreams.set_agent_routes(&dir);
                Ok::<_, ApiError>(Arc::new(dir))
            })
            .await
            .map_err(|e: Arc<ApiError>| (*e).clone())
    }

    pub async fn invalidate(&self) {
        self.cache.invalidate(&()).await;
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
        upstreams: &UpstreamSet,
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
                Self::fetch(upstreams, id, request_id).await.map(Arc::new)
            })
            .await
            .map_err(|e: Arc<ApiError>| (*e).clone())
    }

    /// The conversation as its upstream has it now (the owner probe's answer, or a `GET`),
    /// bypassing the cache; unknown → 404 `Conversation with id '…' not found.`
    pub async fn fetch(
        upstreams: &UpstreamSet,
        id: &str,
        request_id: &str,
    ) -> Result<ConversationInfo, ApiError> {
        // An id that cannot be one is unknown, without asking.
        let Some(path_id) = PathId::new(id) else {
            return Err(ApiError::conversation_not_found(id));
        };
        let Some(found) = upstreams
            .locate(Held::Conversation, path_id, request_id)
            .await?
        else {
            return Err(ApiError::conversation_not_found(id));
        };
        let index = found.index;
        let thread = found
            .read(
                upstreams,
                Held::Conversation,
                path_id,
                request_id,
                "conversations.lookup",
            )
            .await
            .and_then(|reply| upstreams.get(index).conversation_from_reply(&reply));
        match thread {
            Ok(thread) => Ok(ConversationInfo::from_thread(thread, index)),
            Err(e) if is_not_found(&e) => Err(ApiError::conversation_not_found(id)),
            Err(e) => Err(e),
        }
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

/// Where a stored response lives (DESIGN.md §3): its thread, upstream and, when known, its
/// agent and the time of its answer (where a fork from it cuts the thread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseInfo {
    /// The Mastra thread holding the response; `None` for a response Mastra keeps in none.
    pub thread: Option<String>,
    pub agent: Option<String>,
    pub upstream: usize,
    pub answered_at: Option<String>,
    /// The thread's resource, when known.
    pub resource: Option<String>,
}

/// Response id (Mastra's `msg_…` form) → [`ResponseInfo`], so that the tenant check of a
/// `previous_response_id` or a delete costs nothing on repeat. Filled by the gateway's own
/// creates and by every lookup; deletes drop the entry. The mapping never changes while the
/// response exists, and the owner of its thread is checked on every use.
#[derive(Clone)]
pub struct ResponseCache {
    cache: Cache<String, Arc<ResponseInfo>>,
}

impl ResponseCache {
    pub fn new(ttl: Duration, max_entries: u64) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
        }
    }

    pub async fn get(&self, mastra_id: &str) -> Option<Arc<ResponseInfo>> {
        let hit = self.cache.get(mastra_id).await;
        telemetry::record_cache("responses", hit.is_some());
        hit
    }

    pub async fn insert(&self, mastra_id: &str, info: ResponseInfo) -> Arc<ResponseInfo> {
        let info = Arc::new(info);
        self.cache.insert(mastra_id.to_string(), info.clone()).await;
        info
    }

    pub async fn invalidate(&self, mastra_id: &str) {
        self.cache.invalidate(mastra_id).await;
    }
}
