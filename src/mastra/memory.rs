//! Mastra's memory API and its conversation routes: the wire types (threads and stored
//! messages, `MastraDBMessage` format 2) and the upstream calls the Conversations API needs.
//!
//! Routes used (all under `/api`): `GET|POST|DELETE /v1/conversations[/:id]`,
//! `PATCH /memory/threads/:id?agentId=`, `GET /memory/threads/:id/messages?agentId=&page=&perPage=
//! &orderBy=&filter=`, `POST /memory/save-messages?agentId=`, `POST /memory/messages/delete?agentId=`.

use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{json, Map, Value};
use url::form_urlencoded;

use crate::error::ApiError;
use crate::mastra::client::{MastraClient, UpstreamReply};
use crate::mastra::path::PathId;
use crate::mastra::types::{
    CreateConversationBody, DbMessage, MastraConversation, MastraThread, MessageQuery, MessagesPage,
};

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

    /// `POST /api/memory/threads/:id/clone?agentId=`: a new thread `new_id` with the messages of
    /// `id` up to `until` (an ISO time, inclusive), copied under new ids with their times.
    pub async fn clone_thread(
        &self,
        id: PathId<'_>,
        agent: &str,
        new_id: &str,
        resource: &str,
        until: &str,
        request_id: &str,
    ) -> Result<MastraThread, ApiError> {
        let path = format!("/memory/threads/{id}/clone?{}", agent_query(agent));
        let body = encode(&json!({
            "newThreadId": new_id,
            "resourceId": resource,
            "options": {"messageFilter": {"endDate": until}},
        }))?;
        let reply = self
            .call(Method::POST, &path, Some(body), request_id, "threads.clone")
            .await?;
        #[derive(serde::Deserialize)]
        struct Cloned {
            thread: MastraThread,
        }
        let cloned: Cloned = parse(self, "POST /api/memory/threads/:id/clone", &reply.body)?;
        Ok(cloned.thread)
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
