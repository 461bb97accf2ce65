//! Stored responses. A turn run on Mastra's native routes leaves its messages in the thread
//! but no response record; the gateway adds one to the answer's stored message, in the format
//! Mastra's own `/api/v1/responses` writes and reads (`content.metadata.mastra.response`), so
//! that the response is retrievable and deletable through Mastra's API as well as the gateway's.
//!
//! What OpenAI's Response shows and Mastra's record has no field for (the request's echo,
//! `failed` and `incomplete_details`, which items are the gateway's) goes under
//! `providerOptions.mastra_gateway` of the record, which Mastra keeps and returns verbatim.

use serde_json::{json, Map, Value};

use crate::mastra::types::DbMessage;
use crate::openai::response::{OutputItem, Usage};
use crate::translate::response::{GatewayNote, RequestEcho, GATEWAY_KEY};
use crate::translate::turn::Outcome;

/// What a record is made of.
pub struct RecordParts<'a> {
    pub agent: &'a str,
    pub created_at: i64,
    pub outcome: &'a Outcome,
    pub usage: Option<&'a Usage>,
    pub output: &'a [OutputItem],
    pub echo: &'a RequestEcho,
    /// The previous response, as its Mastra message id.
    pub previous: Option<&'a str>,
    pub conversation: Option<&'a str>,
    /// The messages the record deletes with the response.
    pub message_ids: Vec<String>,
    /// The answer message's `createdAt`.
    pub answered_at: Option<&'a str>,
}

/// The record (`content.metadata.mastra.response`) for a finished turn.
pub fn record(p: &RecordParts<'_>) -> Value {
    let items: Vec<Value> = p
        .output
        .iter()
        .filter_map(|i| serde_json::to_value(i).ok())
        .collect();
    let ids = items
        .iter()
        .filter_map(|i| i.get("id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let (error, incomplete) = match p.outcome {
        Outcome::Completed => (Value::Null, Value::Null),
        Outcome::Incomplete(Some(reason)) => (Value::Null, json!({ "reason": reason })),
        Outcome::Incomplete(None) => (Value::Null, Value::Null),
        Outcome::Failed(code, message) => (json!({"code": code, "message": message}), Value::Null),
    };
    let note = GatewayNote {
        status: p.outcome.status().to_string(),
        error,
        incomplete_details: incomplete,
        conversation: p.conversation.map(str::to_string),
        answered_at: p.answered_at.map(str::to_string),
        items: ids,
        echo: p.echo.clone(),
    };
    let mut r = Map::new();
    r.insert("agentId".into(), json!(p.agent));
    r.insert("model".into(), json!(p.agent));
    r.insert("createdAt".into(), json!(p.created_at));
    let completed = matches!(p.outcome, Outcome::Completed);
    r.insert(
        "completedAt".into(),
        if completed {
            json!(crate::translate::response_stream::unix_now())
        } else {
            Value::Null
        },
    );
    r.insert(
        "status".into(),
        json!(if completed { "completed" } else { "incomplete" }),
    );
    r.insert(
        "usage".into(),
        p.usage
            .and_then(|u| serde_json::to_value(u).ok())
            .unwrap_or(Value::Null),
    );
    if let Some(Value::String(i)) = &p.echo.instructions {
        r.insert("instructions".into(), json!(i));
    }
    if let Some(format) = p
        .echo
        .text
        .as_ref()
        .and_then(|t| t.get("format"))
        .filter(|f| f.is_object())
    {
        r.insert("text".into(), json!({ "format": format }));
    }
    if let Some(prev) = p.previous {
        r.insert("previousResponseId".into(), json!(prev));
    }
    r.insert("tools".into(), json!(p.echo.tools));
    r.insert("store".into(), json!(true));
    r.insert("messageIds".into(), json!(p.message_ids));
    r.insert("outputItems".into(), Value::Array(items));
    r.insert(
        "providerOptions".into(),
        json!({ GATEWAY_KEY: serde_json::to_value(&note).unwrap_or(Value::Null) }),
    );
    Value::Object(r)
}

/// `message` with `record` as its response record; its other metadata is kept.
pub fn with_record(mut message: DbMessage, record: Value) -> DbMessage {
    let metadata = message.content.metadata.get_or_insert_with(Map::new);
    let mastra = metadata
        .entry("mastra")
        .or_insert_with(|| Value::Object(Map::new()));
    if !mastra.is_object() {
        *mastra = Value::Object(Map::new());
    }
    if let Some(m) = mastra.as_object_mut() {
        m.insert("response".into(), record);
    }
    message
}

/// The status a stored message's record gives its answer: `None` without a record.
pub fn recorded_status(message: &DbMessage) -> Option<String> {
    let response = message
        .content
        .metadata
        .as_ref()?
        .get("mastra")?
        .get("response")?;
    let gateway = response
        .pointer(&format!("/providerOptions/{GATEWAY_KEY}/status"))
        .and_then(Value::as_str);
    gateway
        .or_else(|| response.get("status").and_then(Value::as_str))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mastra::types::{DbContent, MastraResponse};
    use crate::translate::response::gateway_note;

    #[test]
    fn record_round_trips_through_mastras_answer() {
        let mut echo = RequestEcho {
            temperature: 0.2,
            ..Default::default()
        };
        echo.metadata.insert("k".into(), json!("v"));
        let output = vec![OutputItem::Rewritten(
            json!({"id": "m1", "type": "message"}),
        )];
        let outcome = Outcome::Incomplete(Some("max_output_tokens"));
        let r = record(&RecordParts {
            agent: "support-agent",
            created_at: 1_700_000_000,
            outcome: &outcome,
            usage: None,
            output: &output,
            echo: &echo,
            previous: Some("prev-1"),
            conversation: Some("conv_1"),
            message_ids: vec!["m1".into()],
            answered_at: Some("2026-01-01T00:00:00.000Z"),
        });
        assert_eq!(r["status"], "incomplete");
        assert_eq!(r["completedAt"], Value::Null);
        assert_eq!(r["previousResponseId"], "prev-1");
        assert_eq!(r["messageIds"], json!(["m1"]));
        // What Mastra's GET returns carries providerOptions verbatim.
        let mastra: MastraResponse = serde_json::from_value(json!({
            "id": "m1", "status": "incomplete", "output": [],
            "providerOptions": r["providerOptions"].clone()
        }))
        .unwrap();
        let note = gateway_note(&mastra).expect("the gateway's note");
        assert_eq!(note.status, "incomplete");
        assert_eq!(
            note.incomplete_details,
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(note.items, vec!["m1".to_string()]);
        assert_eq!(note.echo, echo);
        assert_eq!(note.conversation.as_deref(), Some("conv_1"));
        assert_eq!(
            note.answered_at.as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
    }

    #[test]
    fn with_record_keeps_the_other_metadata() {
        let mut md = Map::new();
        md.insert("modelId".into(), json!("echo"));
        md.insert("mastra".into(), json!({"other": 1}));
        let m = DbMessage {
            id: "m1".into(),
            role: "assistant".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            thread_id: None,
            resource_id: None,
            kind: None,
            content: DbContent {
                format: 2,
                parts: vec![],
                content: None,
                metadata: Some(md),
                rest: Map::new(),
            },
            rest: Map::new(),
        };
        let m = with_record(
            m,
            json!({"status": "completed", "providerOptions": {"mastra_gateway": {"status": "failed"}}}),
        );
        let md = m.content.metadata.as_ref().unwrap();
        assert_eq!(md["modelId"], "echo");
        assert_eq!(md["mastra"]["other"], 1);
        assert_eq!(recorded_status(&m).as_deref(), Some("failed"));
    }
}
