//! Mastra wire types (`@mastra/server` ≥ 1.21, routes under `/api`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// Body of `POST /api/v1/responses`.
#[derive(Debug, Serialize, PartialEq)]
pub struct CreateResponseBody<'a> {
    pub agent_id: &'a str,
    pub input: MastraInput<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_response_id: Option<String>,
    /// Always sent: Mastra defaults to false, OpenAI to true.
    pub store: bool,
    pub stream: bool,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum MastraInput<'a> {
    Text(&'a str),
    Messages(Vec<InputMessage<'a>>),
}

#[derive(Debug, Serialize, PartialEq)]
pub struct InputMessage<'a> {
    pub role: &'a str,
    pub content: InputContent<'a>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum InputContent<'a> {
    Text(&'a str),
    Parts(Vec<InputPart<'a>>),
}

#[derive(Debug, Serialize, PartialEq)]
pub struct InputPart<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub text: &'a str,
}

/// Mastra's Response object (its own dialect of OpenAI's: `conversation_id`, agent tools, …).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct MastraResponse {
    pub id: String,
    pub created_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub model: Option<String>,
    pub status: Option<String>,
    /// Kept as Mastra wrote them: most are already in OpenAI's shape and pass through as they are.
    pub output: Vec<Box<RawValue>>,
    pub usage: Option<MastraUsage>,
    pub error: Value,
    pub incomplete_details: Value,
    pub instructions: Value,
    pub text: Value,
    pub previous_response_id: Option<String>,
    pub conversation_id: Option<String>,
    pub store: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct MastraUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: Option<u64>,
    pub input_tokens_details: Option<TokenDetails>,
    pub output_tokens_details: Option<TokenDetails>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct TokenDetails {
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
}

/// `DELETE /api/v1/responses/:id` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct MastraDeleted {
    pub id: String,
    #[serde(default)]
    pub deleted: bool,
}

/// One entry of `GET /api/agents` (only the fields the gateway uses).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct MastraAgent {
    pub id: Option<String>,
    pub name: Option<String>,
    pub provider: Option<String>,
    pub model_id: Option<String>,
}

pub type MastraAgents = HashMap<String, MastraAgent>;

/// Mastra's error body: `{"error": "...", "issues": [{"field", "message"}]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct MastraError {
    pub error: String,
    #[serde(default)]
    pub issues: Vec<MastraIssue>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MastraIssue {
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}
