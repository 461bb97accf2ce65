//! Mastra's memory API and its conversation routes: the wire types (threads and stored
//! messages, `MastraDBMessage` format 2) and the upstream calls the Conversations API needs.
//!
//! Routes used (all under `/api`): `GET|POST|DELETE /v1/conversations[/:id]`,
//! `PATCH /memory/threads/:id?agentId=`, `GET /memory/threads/:id/messages?agentId=&page=&perPage=
//! &orderBy=&filter=`, `POST /memory/save-messages?agentId=`, `POST /memory/messages/delete?agentId=`.

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use url::form_urlencoded;

use crate::error::ApiError;
use crate::mastra::client::{MastraClient, UpstreamReply};
use crate::mastra::path::PathId;

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

fn agent_query(agent: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("agentId", agent)
        .finish()
}

fn parse<T: serde::de::DeserializeOwned>(
    client: &MastraClient,
    what: &str,
    body: &[u8],
) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::upstream_invalid(client.name(), format!("{what}: {e}")))
}

fn encode(value: &impl Serialize) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value)
        .map_err(|e| ApiError::internal(format!("could not encode the upstream request: {e}")))
}

/// An upstream 404 (or 403: another resource's thread) on a conversation route means the
/// conversation does not exist for this caller.
pub fn is_not_found(err: &ApiError) -> bool {
    err.status == StatusCode::NOT_FOUND
}

impl MastraClient {
    /// The thread in an answer to `GET /api/v1/conversations/:id` (Mastra searches every agent's
    /// memory for it), as `upstreams::Located::read` fetches it.
    pub fn conversation_from_reply(&self, reply: &UpstreamReply) -> Result<MastraThread, ApiError> {
        let conv: MastraConversation = parse(self, "GET /api/v1/conversations/:id", &reply.body)?;
        Ok(conv.thread)
    }

    /// `POST /api/v1/conversations`: a new memory thread for `agent_id`.
    pub async fn create_conversation(
        &self,
        body: &CreateConversationBody<'_>,
        request_id: &str,
    ) -> Result<MastraThread, ApiError> {
        let reply = self
            .call(
                Method::POST,
                "/v1/conversations",
                Some(encode(body)?),
                request_id,
                "conversations.create",
            )
            .await?;
        let conv: MastraConversation = parse(self, "POST /api/v1/conversations", &reply.body)?;
        Ok(conv.thread)
    }

    /// `DELETE /api/v1/conversations/:id`: the thread and its messages.
    pub async fn delete_conversation(
        &self,
        id: PathId<'_>,
        request_id: &str,
    ) -> Result<(), ApiError> {
        let path = format!("/v1/conversations/{id}");
        self.call(
            Method::DELETE,
            &path,
            None,
            request_id,
            "conversations.delete",
        )
        .await?;
        Ok(())
    }

    /// `PATCH /api/memory/threads/:id?agentId=`: replaces the thread's metadata.
    pub async fn update_thread_metadata(
        &self,
        id: PathId<'_>,
        agent: &str,
        metadata: &Map<String, Value>,
        request_id: &str,
    ) -> Result<MastraThread, ApiError> {
        let path = format!("/memory/threads/{id}?{}", agent_query(agent));
        let body = encode(&json!({ "metadata": metadata }))?;
        let reply = self
            .call(
                Method::PATCH,
                &path,
                Some(body),
                request_id,
                "conversations.update",
            )
            .await?;
        parse(self, "PATCH /api/memory/threads/:id", &reply.body)
    }

    /// `GET /api/memory/threads/:id/messages`: one window of the thread.
    pub async fn list_messages(
        &self,
        thread: PathId<'_>,
        agent: &str,
        query: &MessageQuery,
        request_id: &str,
    ) -> Result<MessagesPage, ApiError> {
        let path = format!(
            "/memory/threads/{thread}/messages?{}&{}",
            agent_query(agent),
            query.to_query()
        );
        let reply = self
            .call(
                Method::GET,
                &path,
                None,
                request_id,
                "conversations.messages",
            )
            .await?;
        parse(self, "GET /api/memory/threads/:id/messages", &reply.body)
    }

    /// `POST /api/memory/save-messages?agentId=`: inserts, or replaces by id (createdAt kept).
    pub async fn save_messages(
        &self,
        agent: &str,
        messages: &[DbMessage],
        request_id: &str,
    ) -> Result<(), ApiError> {
        let path = format!("/memory/save-messages?{}", agent_query(agent));
        let body = encode(&json!({ "messages": messages }))?;
        self.call(
            Method::POST,
            &path,
            Some(body),
            request_id,
            "conversations.save_messages",
        )
        .await?;
        Ok(())
    }

    /// `POST /api/memory/messages/delete?agentId=`.
    pub async fn delete_messages(
        &self,
        agent: &str,
        ids: &[&str],
        request_id: &str,
    ) -> Result<(), ApiError> {
        let path = format!("/memory/messages/delete?{}", agent_query(agent));
        let body = encode(&json!({ "messageIds": ids }))?;
        self.call(
            Method::POST,
            &path,
            Some(body),
            request_id,
            "conversations.delete_messages",
        )
        .await?;
        Ok(())
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
