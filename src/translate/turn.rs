//! A turn, neutral between the API families: what an adapter asks of an agent ([`Turn`]), and
//! the sequence of events Mastra's native chunk stream becomes ([`TurnEvent`]). The Responses
//! adapter (and, later, Chat Completions) renders those events; no adapter reads Mastra's
//! stream itself.

use bytes::BytesMut;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// One agent run, as the engine sends it to `POST /api/agents/:id/stream`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Turn {
    pub agent: String,
    /// The thread the turn reads and writes; `None`: a stateless run (the whole history is in
    /// `messages`, nothing is stored).
    pub memory: Option<Memory>,
    /// Input messages in Mastra's (AI SDK v5 `ModelMessage`) shapes, ready to send.
    pub messages: Vec<Value>,
    /// Tools the caller runs itself (name → `{id, description, inputSchema}`): a call to one ends
    /// the run and is handed back to the caller.
    pub client_tools: Map<String, Value>,
    pub settings: ModelSettings,
    /// Mastra's `toolChoice`: `"auto"`, `"none"`, `"required"` or `{type: "tool", toolName}`.
    pub tool_choice: Option<Value>,
    /// Replaces the agent's instructions for this run.
    pub instructions: Option<String>,
    /// Mastra's `structuredOutput` (`{schema}`).
    pub structured_output: Option<Value>,
    /// Passed to the model provider verbatim (e.g. `openai.parallelToolCalls`).
    pub provider_options: Map<String, Value>,
}

impl Turn {
    pub fn is_client_tool(&self, name: &str) -> bool {
        self.client_tools.contains_key(name)
    }
}

/// `memory: {thread, resource, readOnly}` of a native call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memory {
    pub thread: String,
    pub resource: String,
    /// Read the history, store nothing (a `store: false` turn that continues a thread).
    pub read_only: bool,
}

/// Mastra's `modelSettings`, under Mastra's names (the only ones that reach the model).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelSettings {
    pub max_output_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop_sequences: Option<Vec<String>>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
}

impl ModelSettings {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Why a turn ended, as Mastra's `stepResult.reason` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model finished (`stop`).
    Stop,
    /// The run ended with calls for the caller's tools (`tool-calls`).
    ToolCalls,
    /// `maxOutputTokens` was reached (`length`).
    Length,
    /// The provider filtered the answer (`content-filter`), or a Mastra processor stopped the
    /// run (`tripwire`).
    ContentFilter,
    /// The model or the run failed (`error`).
    Error,
    /// Anything else Mastra reports (`other`, `suspended`, …).
    Other,
}

impl FinishReason {
    pub fn from_mastra(reason: &str) -> Self {
        match reason {
            "stop" => Self::Stop,
            "tool-calls" => Self::ToolCalls,
            "length" => Self::Length,
            "content-filter" | "tripwire" => Self::ContentFilter,
            "error" => Self::Error,
            _ => Self::Other,
        }
    }
}

/// Token counts, summed over the run's steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    pub reasoning_tokens: u64,
}

/// One event of a turn, borrowed from the native chunk it came from (text and argument deltas
/// are the JSON strings Mastra wrote, copied out as they are).
#[derive(Debug, Clone)]
pub enum TurnEvent<'a> {
    /// The run started; `message_id` is the id Mastra gives the answer of a fresh turn.
    Start {
        message_id: &'a str,
    },
    ReasoningStart {
        id: &'a str,
    },
    /// `text` is a JSON string.
    ReasoningDelta {
        id: &'a str,
        text: &'a RawValue,
    },
    ReasoningEnd {
        id: &'a str,
    },
    TextStart {
        id: &'a str,
    },
    /// `text` is a JSON string.
    TextDelta {
        id: &'a str,
        text: &'a RawValue,
    },
    TextEnd {
        id: &'a str,
    },
    /// The model began a tool call; `client` says whose tool it is (the caller's, or one the
    /// agent runs itself inside Mastra).
    ToolInputStart {
        call_id: &'a str,
        name: &'a str,
        client: bool,
    },
    /// `delta` is a JSON string (a piece of the arguments' JSON text).
    ToolInputDelta {
        call_id: &'a str,
        delta: &'a RawValue,
    },
    /// The call is complete; `arguments` is the arguments object.
    ToolCall {
        call_id: &'a str,
        name: &'a str,
        arguments: &'a RawValue,
        client: bool,
    },
    /// A tool the agent ran returned (`result` as Mastra gives it).
    ToolResult {
        call_id: &'a str,
        name: &'a str,
        result: &'a RawValue,
    },
    /// A tool the agent ran failed; `message` is the error's message only.
    ToolError {
        call_id: &'a str,
        name: &'a str,
        message: String,
    },
    /// The run failed; `message` is clean (no stack trace, no server paths).
    Error {
        message: String,
    },
    /// The run ended.
    Finish(Finish),
}

/// The end of a run: why, its usage, and the answer as Mastra stored it (the AI SDK
/// `UIMessage` of `finish.payload.response.uiMessages[0]`, whose id is the stored message's).
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub reason: FinishReason,
    pub usage: TurnUsage,
    pub answer: Option<Value>,
}

/// How a turn ended, for whichever API renders it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed,
    /// Cut short: `max_output_tokens`, `content_filter`, or `None` (the run was interrupted).
    Incomplete(Option<&'static str>),
    /// `code` and a clean message. Codes: `server_error` (the agent failed), `upstream_error`,
    /// `upstream_timeout`, `request_timeout`, `shutting_down`, `store_failed`.
    Failed(&'static str, String),
}

impl Outcome {
    /// OpenAI's `status` for it.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Incomplete(_) => "incomplete",
            Outcome::Failed(..) => "failed",
        }
    }

    /// How a run ends that Mastra finished with `finish` (after an `error` event when `error`).
    pub fn from_finish(finish: &Finish, error: Option<&str>) -> Self {
        if let Some(message) = error {
            return Outcome::Failed("server_error", message.to_string());
        }
        match finish.reason {
            FinishReason::Stop | FinishReason::ToolCalls => Outcome::Completed,
            FinishReason::Length => Outcome::Incomplete(Some("max_output_tokens")),
            FinishReason::ContentFilter => Outcome::Incomplete(Some("content_filter")),
            FinishReason::Error => Outcome::Failed("server_error", "the agent's run failed".into()),
            // Mastra stops this way for reasons of its own (a step limit): not the whole answer.
            FinishReason::Other => Outcome::Incomplete(None),
        }
    }
}

/// An API family's rendering of a turn: the engine feeds it the events and, at the end, the
/// outcome; it writes its wire format into `out`.
pub trait TurnSink: Send {
    fn on_event(&mut self, event: &TurnEvent<'_>, out: &mut BytesMut);
    /// How the run ended by Mastra's own account, once its `finish` arrived.
    fn finished(&self) -> Option<Outcome>;
    /// Writes the end (the terminal event, or the whole answer); nothing after it.
    fn end(&mut self, outcome: Outcome, out: &mut BytesMut);
    fn is_done(&self) -> bool;
    /// A content delta has been written (the first token).
    fn output_started(&self) -> bool;
    fn events_written(&self) -> u64;
}
