//! `POST /v1/responses` request body (spec `CreateResponse`).

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CreateResponseRequest {
    pub model: Option<String>,
    /// A string, or an array of input items.
    pub input: Option<Value>,
    /// A string (or, in echoes, an item array).
    pub instructions: Option<Value>,
    pub previous_response_id: Option<String>,
    pub conversation: Option<ConversationParam>,
    pub store: Option<bool>,
    pub stream: Option<bool>,
    pub stream_options: Option<Value>,
    pub background: Option<bool>,
    pub metadata: Option<Map<String, Value>>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_output_tokens: Option<u64>,
    pub max_tool_calls: Option<u64>,
    pub top_logprobs: Option<u64>,
    pub tools: Option<Vec<Value>>,
    pub tool_choice: Option<Value>,
    pub parallel_tool_calls: Option<bool>,
    pub text: Option<Value>,
    pub reasoning: Option<Value>,
    pub truncation: Option<String>,
    pub include: Option<Vec<String>>,
    pub user: Option<String>,
    pub safety_identifier: Option<String>,
    pub prompt_cache_key: Option<String>,
    pub service_tier: Option<String>,
    /// Everything else, checked against the list of known-but-ignored fields.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `conversation` is `"id"` or `{"id": "…"}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ConversationParam {
    Id(String),
    Object { id: String },
}

impl ConversationParam {
    pub fn id(&self) -> &str {
        match self {
            ConversationParam::Id(id) | ConversationParam::Object { id } => id,
        }
    }
}
