//! Several Mastra servers behind one gateway: which upstream serves an agent, and which holds a
//! conversation or a stored response (found once, then remembered in a moka cache).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use http::Method;
use moka::future::Cache;

use crate::config::{Config, UpstreamSpec};
use crate::error::ApiError;
use crate::mastra::client::{MastraClient, UpstreamReply};
use crate::mastra::path::PathId;
use crate::telemetry;
use crate::translate::models::AgentDirectory;

pub struct UpstreamSet {
    members: Vec<Member>,
    /// Agent id → upstream index, refreshed with every agent-list load.
    agent_routes: RwLock<HashMap<String, usize>>,
    /// Conversation / response id → index of the upstream that holds it.
    owners: Cache<String, usize>,
}

struct Member {
    client: MastraClient,
    spec: UpstreamSpec,
}

/// What kind of id [`UpstreamSet::locate`] looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Conversation,
    Response,
}

impl UpstreamSet {
    pub fn new(config: &Config) -> Result<Self, crate::error::StartError> {
        let specs = config
            .upstream_specs()
            .map_err(|e| crate::error::StartError::Config(e.to_string()))?;
        let members = specs
            .into_iter()
            .map(|spec| {
                Ok(Member {
                    client: MastraClient::from_spec(&config.upstream, &spec)?,
                    spec,
                })
            })
            .collect::<Result<Vec<_>, reqwest::Error>>()?;
        Ok(Self {
            members,
            agent_routes: RwLock::new(HashMap::new()),
            owners: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
        })
    }

    /// The first upstream: holds new conversations when no agent decides otherwise.
    pub fn primary(&self) -> &MastraClient {
        &self.members[0].client
    }

    pub fn get(&self, index: usize) -> &MastraClient {
        &self.members[index.min(self.members.len() - 1)].client
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn clients(&self) -> impl Iterator<Item = (usize, &MastraClient)> {
        self.members.iter().enumerate().map(|(i, m)| (i, &m.client))
    }

    /// Records which upstream serves each agent (called when the agent list is loaded).
    pub fn set_agent_routes(&self, dir: &AgentDirectory) {
        let routes = dir
            .agent_ids()
            .filter_map(|a| dir.upstream_of(a).map(|i| (a.to_string(), i)))
            .collect();
        if let Ok(mut guard) = self.agent_routes.write() {
            *guard = routes;
        }
    }

    /// The upstream serving `agent` (its memory holds the agent's threads); the primary one for
    /// an agent not seen in the agent list yet.
    pub fn for_agent(&self, agent: &str) -> &MastraClient {
        self.get(self.index_for_agent(agent))
    }

    pub fn index_for_agent(&self, agent: &str) -> usize {
        self.agent_routes
            .read()
            .ok()
            .and_then(|r| r.get(agent).copied())
            .unwrap_or(0)
    }

    /// Whether upstream `index` is configured to serve `agent` (`agents` patterns).
    pub fn serves(&self, index: usize, agent: &str) -> bool {
        self.members
            .get(index)
            .is_some_and(|m| m.spec.agents.iter().any(|p| glob_match(p, agent)))
    }

    pub async fn remember(&self, held: Held, id: &str, index: usize) {
        if self.members.len() > 1 {
            self.owners.insert(owner_key(held, id), index).await;
        }
    }

    /// A handle that remembers owners after the request is gone (a stream stores its response
    /// when it ends).
    pub fn owners(&self) -> Owners {
        Owners {
            cache: self.owners.clone(),
            several: self.members.len() > 1,
        }
    }

    pub async fn forget(&self, held: Held, id: &str) {
        self.owners.invalidate(&owner_key(held, id)).await;
    }

    /// The upstream holding a conversation or stored response. With one upstream that is it, at
    /// no cost; with several, the remembered owner, else every upstream is asked (in parallel)
    /// and the first that has it is remembered. `None`: no upstream has it. An upstream that
    /// failed to answer makes an unfound id a 503 rather than a 404.
    pub async fn locate(
        &self,
        held: Held,
        id: PathId<'_>,
        request_id: &str,
    ) -> Result<Option<Located>, ApiError> {
        if self.members.len() == 1 {
            return Ok(Some(Located::at(0)));
        }
        let key = owner_key(held, id.as_str());
        if let Some(i) = self.owners.get(&key).await {
            telemetry::record_cache("upstream_owners", true);
            return Ok(Some(Located::at(i)));
        }
        telemetry::record_cache("upstream_owners", false);
        let path = held_path(held, id);
        let route = match held {
            Held::Conversation => "locate.conversation",
            Held::Response => "locate.response",
        };
        let probes = self.members.iter().map(|m| {
            let path = path.clone();
            async move {
                m.client
                    .call(Method::GET, &path, None, request_id, route)
                    .await
            }
        });
        let results = futures_util::future::join_all(probes).await;
        let mut failure = None;
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(reply) => {
                    self.owners.insert(key, i).await;
                    return Ok(Some(Located {
                        index: i,
                        probe: Some(reply),
                    }));
                }
                Err(e) if e.status == http::StatusCode::NOT_FOUND => {}
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }
}

/// See [`UpstreamSet::owners`].
#[derive(Clone)]
pub struct Owners {
    cache: Cache<String, usize>,
    several: bool,
}

impl Owners {
    pub async fn remember(&self, held: Held, id: &str, index: usize) {
        if self.several {
            self.cache.insert(owner_key(held, id), index).await;
        }
    }
}

/// Where [`UpstreamSet::locate`] found a conversation or stored response.
pub struct Located {
    pub index: usize,
    /// The owner's answer to the probe that found it (a `GET` of the resource itself) when it
    /// was found by asking just now: a caller that needs the resource uses it instead of asking
    /// a second time.
    pub probe: Option<UpstreamReply>,
}

impl Located {
    fn at(index: usize) -> Self {
        Self { index, probe: None }
    }

    /// The located resource itself: the probe's answer when it was fetched just now, else a
    /// `GET` of it from its owner.
    pub async fn read(
        self,
        upstreams: &UpstreamSet,
        held: Held,
        id: PathId<'_>,
        request_id: &str,
        route: &'static str,
    ) -> Result<UpstreamReply, ApiError> {
        match self.probe {
            Some(reply) => Ok(reply),
            None => {
                upstreams
                    .get(self.index)
                    .call(Method::GET, &held_path(held, id), None, request_id, route)
                    .await
            }
        }
    }
}

/// The upstream path of a conversation or stored response (what `locate` probes).
fn held_path(held: Held, id: PathId<'_>) -> String {
    match held {
        Held::Conversation => format!("/v1/conversations/{id}"),
        Held::Response => format!("/v1/responses/{id}"),
    }
}

fn owner_key(held: Held, id: &str) -> String {
    match held {
        Held::Conversation => format!("c:{id}"),
        Held::Response => format!("r:{id}"),
    }
}

/// `*` matches any run of characters, `?` one character; everything else literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "support-agent"));
        assert!(glob_match("support-*", "support-agent"));
        assert!(!glob_match("support-*", "echo-agent"));
        assert!(glob_match("*-agent", "echo-agent"));
        assert!(glob_match("e?ho-*", "echo-agent"));
        assert!(glob_match("echo-agent", "echo-agent"));
        assert!(!glob_match("echo", "echo-agent"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
    }
}
