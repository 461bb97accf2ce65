//! Running turns on Mastra's native agent route (`POST /api/agents/:id/stream`, for streaming
//! and non-streaming requests alike: one route, one translator) and what follows them: storing
//! the response record once Mastra finished the run, and marking a run that was cut.

pub mod stream;

use std::time::Duration;

use crate::error::ApiError;
use crate::mastra::client::MastraClient;
use crate::mastra::path::PathId;
use crate::mastra::types::{DbMessage, Direction, MessageQuery};
use crate::openai::response::OutputItem;
use crate::translate::items::{message_items, with_turn_note};
use crate::translate::native::{request_body, stored_answer};
use crate::translate::record::{record, recorded_status, with_record, RecordParts};
use crate::translate::response::RequestEcho;
use crate::translate::response_stream::{usage, ResponseWriter};
use crate::translate::turn::{Memory, Outcome, Turn};

use stream::{ByteStream, Hooks};

/// Opens the turn's run: returns once Mastra answered with its event stream (a refusal before
/// that, e.g. an unknown agent or another tenant's thread, is an error the client gets as JSON).
/// `route` labels the upstream call's duration (the gateway route it serves).
pub async fn open(
    client: &MastraClient,
    turn: &Turn,
    request_id: &str,
    route: &'static str,
) -> Result<ByteStream, ApiError> {
    let agent = PathId::new(&turn.agent)
        .ok_or_else(|| ApiError::model_not_found(&crate::mastra::path::quoted(&turn.agent)))?;
    let path = format!("/agents/{agent}/stream");
    let resp = client
        .open_stream(&path, request_body(turn), request_id, route)
        .await?;
    Ok(Box::pin(resp.bytes_stream()))
}

/// Told the stored answer message once its record is written.
pub type OnStored = std::sync::Arc<dyn Fn(&DbMessage) + Send + Sync>;

/// Where and how a turn's response is stored.
#[derive(Clone)]
pub struct Stored {
    pub client: MastraClient,
    pub agent: String,
    pub memory: Memory,
    pub request_id: String,
    pub echo: RequestEcho,
    /// The response the turn continues, as its Mastra message id.
    pub previous: Option<String>,
    pub conversation: Option<String>,
    /// The id of the turn's last input message the gateway stored (a cut run's partial answer
    /// follows it).
    pub last_input: Option<String>,
    /// The id the answer is stored under when the turn continues an assistant message (Mastra
    /// merges the answer into it); `None`: Mastra's own.
    pub answer_id: Option<String>,
    /// Calls of the caller's tools the turn sent with their outputs, and those of them it
    /// continued from the thread (see [`with_turn_note`]).
    pub client_calls: Vec<String>,
    pub continued: Vec<String>,
    /// Told the stored answer message once its record is written (the caches remember it).
    pub on_stored: Option<OnStored>,
}

/// The hooks of a Responses turn: with `stored`, its record is written to the answer's message
/// before the terminal event, and a cut run's partial answer is marked incomplete.
pub fn responses_hooks(stored: Option<Stored>) -> Hooks<ResponseWriter> {
    let Some(stored) = stored else {
        return Hooks::default();
    };
    let cut = stored.clone();
    Hooks {
        finalize: Some(Box::new(
            move |writer: &ResponseWriter, outcome: &Outcome| {
                let answer = writer.finish().and_then(|f| f.answer.clone());
                let message_id = answer
                    .as_ref()
                    .and_then(|a| a.get("id"))
                    .and_then(|v| v.as_str())
                    .or(writer.message_id())
                    .map(str::to_string)?;
                let output = writer.output_items();
                let calls = writer.client_calls();
                let usage = writer
                    .finish()
                    .filter(|_| !matches!(outcome, Outcome::Failed(..)))
                    .map(|f| usage(f.usage));
                let created_at = writer.created_at();
                let outcome = outcome.clone();
                let s = stored;
                Some(Box::pin(async move {
                    let message = match answer
                        .and_then(|a| stored_answer(&a, &s.memory.thread, &s.memory.resource))
                    {
                        Some(m) => m,
                        None => read_message(&s, |m| m.id == message_id).await?,
                    };
                    let rec = record(&RecordParts {
                        agent: &s.agent,
                        created_at,
                        outcome: &outcome,
                        usage: usage.as_ref(),
                        output: &output,
                        echo: &s.echo,
                        previous: s.previous.as_deref(),
                        conversation: s.conversation.as_deref(),
                        message_ids: vec![message.id.clone()],
                        answered_at: Some(&message.created_at),
                    });
                    let mut client_calls = s.client_calls.clone();
                    client_calls.extend(calls.into_iter().map(|(id, _, _)| id));
                    let message =
                        with_turn_note(with_record(message, rec), &client_calls, &s.continued);
                    s.client
                        .save_messages(&s.agent, std::slice::from_ref(&message), &s.request_id)
                        .await?;
                    if let Some(on_stored) = &s.on_stored {
                        on_stored(&message);
                    }
                    Ok(())
                }) as _)
            },
        )),
        on_cut: Some(Box::new(move |writer: &ResponseWriter| {
            let created_at = writer.created_at();
            let shown = writer.message_id().map(str::to_string);
            tokio::spawn(mark_cut(cut, created_at, shown));
        })),
    }
}

/// The newest message of the thread that `pick` chooses.
async fn read_message(
    s: &Stored,
    pick: impl Fn(&DbMessage) -> bool,
) -> Result<DbMessage, ApiError> {
    let thread = PathId::new(&s.memory.thread)
        .ok_or_else(|| ApiError::internal("the turn's thread id cannot be a path segment"))?;
    let q = MessageQuery {
        direction: Direction::Desc,
        start: None,
        end: None,
        per_page: 20,
        page: 0,
    };
    let page = s
        .client
        .list_messages(thread, &s.agent, &q, &s.request_id)
        .await?;
    page.messages
        .into_iter()
        .rev()
        .find(|m| pick(m))
        .ok_or_else(|| ApiError::internal("the answer is not in the thread"))
}

/// How long after a cut Mastra is given to store the partial answer (it does within ~25 ms),
/// and how often, how many times it is looked for: until it is marked, the partial answer
/// reads as Mastra stored it (complete), so the first look comes soon.
const CUT_FIRST_LOOK: Duration = Duration::from_millis(30);
const CUT_RETRY: Duration = Duration::from_millis(100);
const CUT_TRIES: usize = 20;

/// A run cut before its end (client gone, deadline, shutdown): Mastra stores the partial
/// answer, unmarked, under a fresh id. Marks it `incomplete` (a response record saying so), so
/// that it is never shown as complete afterwards, and moves it to `shown`, the message id of
/// the response the client was told (`response.created`), so that the id it holds reads back
/// the cut turn: saved under that id first, the fresh copy deleted after (nothing is lost if
/// the delete fails; the thread then holds the partial answer twice, and a warning says so).
async fn mark_cut(s: Stored, created_at: i64, shown: Option<String>) {
    if s.last_input.is_none() && s.answer_id.is_none() {
        return;
    }
    tokio::time::sleep(CUT_FIRST_LOOK).await;
    for _ in 0..CUT_TRIES {
        if let Ok(message) = partial_answer(&s).await {
            if recorded_status(&message).is_some() {
                return;
            }
            let fresh = message.id.clone();
            let id = shown.clone().unwrap_or_else(|| fresh.clone());
            let mut message = message;
            message.id.clone_from(&id);
            // The partial answer's items as the thread shows them, cut short.
            let output: Vec<OutputItem> = message_items(&message)
                .into_iter()
                .map(|mut item| {
                    if item.get("status").is_some() {
                        item["status"] = "incomplete".into();
                    }
                    OutputItem::Rewritten(item)
                })
                .collect();
            let outcome = Outcome::Incomplete(None);
            let parts = RecordParts {
                agent: &s.agent,
                created_at,
                outcome: &outcome,
                usage: None,
                output: &output,
                echo: &s.echo,
                previous: s.previous.as_deref(),
                conversation: s.conversation.as_deref(),
                message_ids: vec![id.clone()],
                answered_at: Some(&message.created_at),
            };
            let rec = record(&parts);
            let marked = with_record(message, rec);
            let moved = id != fresh;
            if let Err(e) = s
                .client
                .save_messages(&s.agent, std::slice::from_ref(&marked), &s.request_id)
                .await
            {
                tracing::warn!(error = %e.message, "could not mark a cut turn's partial answer incomplete");
                return;
            }
            if moved {
                if let Err(e) = s
                    .client
                    .delete_messages(&s.agent, &[fresh.as_str()], &s.request_id)
                    .await
                {
                    tracing::warn!(error = %e.message, message = %fresh, "a cut turn's partial answer is stored twice: its fresh copy could not be deleted");
                }
            }
            if let Some(on_stored) = &s.on_stored {
                on_stored(&marked);
            }
            tracing::info!(thread = %s.memory.thread, "a cut turn's partial answer is marked incomplete");
            return;
        }
        tokio::time::sleep(CUT_RETRY).await;
    }
}

/// The partial answer of a cut turn: the message the answer continues, else the assistant
/// message stored right after the turn's last input message.
async fn partial_answer(s: &Stored) -> Result<DbMessage, ApiError> {
    let thread = PathId::new(&s.memory.thread)
        .ok_or_else(|| ApiError::internal("the turn's thread id cannot be a path segment"))?;
    let q = MessageQuery {
        direction: Direction::Desc,
        start: None,
        end: None,
        per_page: 20,
        page: 0,
    };
    let mut messages = s
        .client
        .list_messages(thread, &s.agent, &q, &s.request_id)
        .await?
        .messages;
    messages.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    if let Some(id) = &s.answer_id {
        if let Some(at) = messages.iter().position(|m| &m.id == id) {
            return Ok(messages.swap_remove(at));
        }
    }
    let after = s
        .last_input
        .as_deref()
        .ok_or_else(|| ApiError::internal("the partial answer is not stored yet"))?;
    let at = messages
        .iter()
        .position(|m| m.id == after)
        .ok_or_else(|| ApiError::internal("the input is not stored yet"))?;
    messages
        .into_iter()
        .skip(at + 1)
        .find(|m| m.role == "assistant")
        .ok_or_else(|| ApiError::internal("the partial answer is not stored yet"))
}
