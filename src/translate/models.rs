//! OpenAI `model` ⇄ Mastra agents: resolution (ids, aliases, default) and `/v1/models` listing.

use crate::config::ModelsConfig;
use crate::error::ApiError;
use crate::mastra::types::MastraAgents;
use crate::openai::models::{Model, ModelList};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentDirectory {
    /// Sorted by id.
    agents: Vec<AgentEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEntry {
    pub id: String,
    /// Index of the upstream that serves it.
    pub upstream: usize,
    /// `provider/modelId`, as Mastra writes it in a Response's `model`.
    pub model: Option<String>,
}

impl AgentDirectory {
    pub fn from_mastra(agents: MastraAgents) -> Self {
        Self::from_upstreams(vec![(0, agents)], |_, _| true)
    }

    /// Merges the agent lists of several upstreams, keeping those `serves(upstream, agent)`
    /// allows; an agent listed by several upstreams goes to the first of them.
    pub fn from_upstreams(
        lists: Vec<(usize, MastraAgents)>,
        serves: impl Fn(usize, &str) -> bool,
    ) -> Self {
        let mut agents: Vec<AgentEntry> = Vec::new();
        let mut lists = lists;
        lists.sort_by_key(|(i, _)| *i);
        for (upstream, list) in lists {
            for (key, a) in list {
                let id = a.id.clone().unwrap_or(key);
                if !serves(upstream, &id) || agents.iter().any(|e| e.id == id) {
                    continue;
                }
                agents.push(AgentEntry {
                    model: match (&a.provider, &a.model_id) {
                        (Some(p), Some(m)) => Some(format!("{p}/{m}")),
                        _ => None,
                    },
                    upstream,
                    id,
                });
            }
        }
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        Self { agents }
    }

    /// The upstream serving `agent`.
    pub fn upstream_of(&self, agent: &str) -> Option<usize> {
        self.agents
            .binary_search_by(|a| a.id.as_str().cmp(agent))
            .ok()
            .map(|i| self.agents[i].upstream)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.agents
            .binary_search_by(|a| a.id.as_str().cmp(id))
            .is_ok()
    }

    pub fn agent_ids(&self) -> impl Iterator<Item = &str> {
        self.agents.iter().map(|a| a.id.as_str())
    }

    /// `model` → agent id: an exact agent id, then an alias, then (when no model is given) the
    /// configured default. Unknown → 404 `model_not_found`.
    pub fn resolve(&self, model: Option<&str>, cfg: &ModelsConfig) -> Result<String, ApiError> {
        let name = match model.filter(|m| !m.is_empty()) {
            Some(m) => m,
            None => match cfg.default.as_deref() {
                Some(d) => d,
                None => return Err(ApiError::missing_parameter("model")),
            },
        };
        if self.contains(name) {
            return Ok(name.to_string());
        }
        match cfg.aliases.get(name) {
            Some(agent) if self.contains(agent) => Ok(agent.clone()),
            _ => Err(ApiError::model_not_found(name)),
        }
    }

    /// The agent whose model Mastra reports as `provider/modelId`, when exactly one matches.
    pub fn agent_for_model_string(&self, model: &str) -> Option<&str> {
        let mut matches = self
            .agents
            .iter()
            .filter(|a| a.model.as_deref() == Some(model));
        match (matches.next(), matches.next()) {
            (Some(a), None) => Some(a.id.as_str()),
            _ => None,
        }
    }

    /// Agents and the aliases that point at an existing agent, sorted by id.
    pub fn model_list(&self, cfg: &ModelsConfig, created: u64) -> ModelList {
        let mut data: Vec<Model> = self
            .agents
            .iter()
            .map(|a| model(&a.id, cfg, created))
            .collect();
        for (alias, agent) in &cfg.aliases {
            if self.contains(agent) && !self.contains(alias) {
                data.push(model(alias, cfg, created));
            }
        }
        data.sort_by(|a, b| a.id.cmp(&b.id));
        ModelList {
            object: "list",
            data,
        }
    }

    pub fn find_model(&self, id: &str, cfg: &ModelsConfig, created: u64) -> Option<Model> {
        let known = self.contains(id)
            || cfg
                .aliases
                .get(id)
                .is_some_and(|agent| self.contains(agent));
        known.then(|| model(id, cfg, created))
    }
}

fn model(id: &str, cfg: &ModelsConfig, created: u64) -> Model {
    Model {
        id: id.to_string(),
        object: "model",
        created,
        owned_by: cfg.owned_by.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> AgentDirectory {
        let agents: MastraAgents =
            serde_json::from_str(include_str!("../../tests/data/mastra_agents.json")).unwrap();
        AgentDirectory::from_mastra(agents)
    }

    fn cfg() -> ModelsConfig {
        let mut c = ModelsConfig::default();
        c.aliases.insert("gpt-4o".into(), "support-agent".into());
        c.aliases.insert("dangling".into(), "no-such-agent".into());
        c
    }

    #[test]
    fn resolves_ids_aliases_and_default() {
        let d = dir();
        let mut c = cfg();
        assert_eq!(d.resolve(Some("echo-agent"), &c).unwrap(), "echo-agent");
        assert_eq!(d.resolve(Some("gpt-4o"), &c).unwrap(), "support-agent");
        let e = d.resolve(Some("dangling"), &c).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("model_not_found"));
        let e = d.resolve(Some("nope"), &c).unwrap_err();
        assert_eq!(e.status.as_u16(), 404);
        let e = d.resolve(None, &c).unwrap_err();
        assert_eq!(e.code.as_deref(), Some("missing_required_parameter"));
        c.default = Some("gpt-4o".into());
        assert_eq!(d.resolve(None, &c).unwrap(), "support-agent");
    }

    #[test]
    fn merges_upstreams_by_agent_patterns() {
        let agents: MastraAgents =
            serde_json::from_str(include_str!("../../tests/data/mastra_agents.json")).unwrap();
        let d = AgentDirectory::from_upstreams(vec![(1, agents.clone()), (0, agents)], |i, a| {
            i == 1 || a.starts_with("support")
        });
        assert_eq!(d.upstream_of("support-agent"), Some(0));
        assert_eq!(d.upstream_of("echo-agent"), Some(1));
        assert_eq!(d.upstream_of("nope"), None);
    }

    #[test]
    fn model_list_snapshot() {
        insta::assert_json_snapshot!(dir().model_list(&cfg(), 1_700_000_000));
    }

    #[test]
    fn maps_mastra_model_string_back_to_agent() {
        assert_eq!(
            dir().agent_for_model_string("mock/echo-support"),
            Some("support-agent")
        );
        assert_eq!(dir().agent_for_model_string("mock/other"), None);
    }
}
