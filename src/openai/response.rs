//! The OpenAI `Response` object: every key reference/openai.md §1.3 lists, nulls where no value.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// An output item: the upstream's own JSON when it already has OpenAI's shape (no tree is built
/// for it), else a rewritten one.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum OutputItem {
    AsIs(Box<RawValue>),
    Rewritten(Value),
}

#[derive(Debug, Clone, Serialize)]
pub struct Response {
    pub id: String,
    pub object: &'static str,
    pub created_at: i64,
    pub status: String,
    pub completed_at: Option<i64>,
    pub background: bool,
    pub error: Value,
    pub incomplete_details: Value,
    pub instructions: Value,
    pub max_output_tokens: Option<u64>,
    pub max_tool_calls: Option<u64>,
    pub model: String,
    pub output: Vec<OutputItem>,
    pub parallel_tool_calls: bool,
    pub previous_response_id: Option<String>,
    pub conversation: Option<ConversationRef>,
    pub prompt_cache_key: Option<String>,
    pub safety_identifier: Option<String>,
    pub reasoning: Reasoning,
    pub service_tier: &'static str,
    pub store: bool,
    pub temperature: f64,
    pub top_p: f64,
    pub top_logprobs: u64,
    pub text: TextConfig,
    pub tool_choice: Value,
    pub tools: Vec<Value>,
    pub truncation: String,
    pub usage: Option<Usage>,
    pub user: Option<String>,
    pub metadata: Map<String, Value>,
}

/// `reasoning`: always both keys, `null` where the request set none.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Reasoning {
    pub effort: Value,
    pub summary: Value,
}

/// `text`: always `format` and `verbosity`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TextConfig {
    pub format: TextFormat,
    pub verbosity: Value,
}

/// `text.format`: OpenAI's default `{"type": "text"}` (written without building a tree), or
/// the one the request or Mastra gave.
#[derive(Debug, Clone, PartialEq)]
pub enum TextFormat {
    Text,
    Given(Value),
}

impl Serialize for TextFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match self {
            TextFormat::Text => {
                let mut format = s.serialize_struct("TextFormat", 1)?;
                format.serialize_field("type", "text")?;
                format.end()
            }
            TextFormat::Given(value) => value.serialize(s),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConversationRef {
    pub id: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct Usage {
    pub input_tokens: u64,
    pub input_tokens_details: InputTokensDetails,
    pub output_tokens: u64,
    pub output_tokens_details: OutputTokensDetails,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct InputTokensDetails {
    pub cached_tokens: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct OutputTokensDetails {
    pub reasoning_tokens: u64,
}

/// `DELETE /v1/responses/{id}` body (the SDKs ignore it; this is the spec's example shape).
#[derive(Debug, Clone, Serialize)]
pub struct DeletedResponse {
    pub id: String,
    pub object: &'static str,
    pub deleted: bool,
}
