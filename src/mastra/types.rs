//! Mastra wire types (`@mastra/server` ≥ 1.21, routes under `/api`): stored responses, agents,
//! errors, and the memory API's threads and messages.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use url::form_urlencoded;

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
    /// A record's provider options, verbatim (the gateway keeps its own note there).
    #[serde(rename = "providerOptions")]
    pub provider_options: Map<String, Value>,
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

// ------------------------------------------------------------------ memory (threads, messages)

/// A memory thread: `{id, resourceId, title, metadata, createdAt, updatedAt}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct MastraThread {
    pub id: String,
    pub resource_id: Option<String>,
    pub title: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// `GET|POST /api/v1/conversations[/:id]` answer: `{id, object:"conversation", thread}`.
#[derive(Debug, Clone, Deserialize)]
pub struct MastraConversation {
    pub id: String,
    pub thread: MastraThread,
}

/// Body of `POST /api/v1/conversations`.
#[derive(Debug, Serialize)]
pub struct CreateConversationBody<'a> {
    pub agent_id: &'a str,
    pub conversation_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<&'a str>,
    pub metadata: &'a Map<String, Value>,
}

/// A stored message (`MastraDBMessage`, format 2). Unknown fields are kept, so that a message
/// read, edited and saved back (upsert by id) loses nothing.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DbMessage {
    pub id: String,
    pub role: String,
    /// ISO 8601 with milliseconds, as Mastra writes it; the thread's order is by this.
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub content: DbContent,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct DbContent {
    #[serde(default = "format_two")]
    pub format: u8,
    #[serde(default)]
    pub parts: Vec<Value>,
    /// The flat text of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

fn format_two() -> u8 {
    2
}

/// `GET /api/memory/threads/:id/messages` answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessagesPage {
    pub messages: Vec<DbMessage>,
    pub total: Option<u64>,
    pub has_more: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// One window of a thread's messages: ordered by `createdAt` in `direction`, restricted to
/// `[start, end]` (inclusive, ISO strings), `per_page` messages from offset `page * per_page`.
/// Mastra returns the window oldest-first whatever the direction; callers sort anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageQuery {
    pub direction: Direction,
    pub start: Option<String>,
    pub end: Option<String>,
    pub per_page: usize,
    pub page: usize,
}

impl MessageQuery {
    /// The query string (without `agentId`).
    pub fn to_query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("page", &self.page.to_string());
        q.append_pair("perPage", &self.per_page.to_string());
        let dir = match self.direction {
            Direction::Asc => "ASC",
            Direction::Desc => "DESC",
        };
        q.append_pair(
            "orderBy",
            &json!({"field": "createdAt", "direction": dir}).to_string(),
        );
        if self.start.is_some() || self.end.is_some() {
            let mut range = Map::new();
            if let Some(s) = &self.start {
                range.insert("start".into(), json!(s));
                range.insert("startExclusive".into(), json!(false));
            }
            if let Some(e) = &self.end {
                range.insert("end".into(), json!(e));
                range.insert("endExclusive".into(), json!(false));
            }
            q.append_pair("filter", &json!({ "dateRange": range }).to_string());
        }
        q.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_query_string() {
        let q = MessageQuery {
            direction: Direction::Desc,
            start: None,
            end: Some("2026-01-01T00:00:00.005Z".into()),
            per_page: 21,
            page: 0,
        };
        let pairs: Vec<(String, String)> = form_urlencoded::parse(q.to_query().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("page".into(), "0".into()),
                ("perPage".into(), "21".into()),
                (
                    "orderBy".into(),
                    r#"{"field":"createdAt","direction":"DESC"}"#.into()
                ),
                (
                    "filter".into(),
                    r#"{"dateRange":{"end":"2026-01-01T00:00:00.005Z","endExclusive":false}}"#
                        .into()
                ),
            ]
        );
    }

    #[test]
    fn db_message_round_trips_unknown_fields() {
        let raw = json!({
            "id": "m1", "role": "assistant", "createdAt": "2026-01-01T00:00:00.001Z",
            "threadId": "t", "resourceId": "r", "type": "v2",
            "content": {"format": 2, "parts": [{"type": "text", "text": "x"}], "content": "x",
                        "toolInvocations": [], "metadata": {"a": 1}},
            "extra": true
        });
        let m: DbMessage = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), raw);
    }
}
