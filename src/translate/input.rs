//! A Responses request's `input` items → the messages of a Mastra turn.
//!
//! Three steps, the middle one outside (it reads Mastra): [`parse_input`] checks every item and
//! names the bad one (`input[i]`); the plan resolves `item_reference`s and drops what the
//! turn's thread already holds ([`ThreadView`]); [`turn_messages`] builds Mastra's (AI SDK
//! `ModelMessage`) messages. Replayed history is accepted in every shape a client sends it:
//! messages (any role), `function_call` + `function_call_output` pairs, the `mcp_call` items
//! the gateway itself shows for tools the agent ran, `reasoning` items (accepted, not sent:
//! the model needs none), and references to any of them.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::mastra::types::DbMessage;
use crate::translate::ids;
use crate::translate::items::{message_items, parse_arguments};

/// One checked input item; `index` is its place in `input` (for errors).
#[derive(Debug, Clone, PartialEq)]
pub enum InputItem {
    Message {
        index: usize,
        /// `user`, `assistant`, `system` or `developer`.
        role: String,
        texts: Vec<String>,
        id: Option<String>,
    },
    FunctionCall {
        index: usize,
        id: Option<String>,
        call_id: String,
        name: String,
        arguments: String,
    },
    FunctionCallOutput {
        index: usize,
        call_id: String,
        output: String,
    },
    /// A tool the agent ran (replayed history: never run again).
    ServerCall {
        index: usize,
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        output: Option<String>,
        error: Option<String>,
    },
    Reference {
        index: usize,
        id: String,
    },
    Reasoning {
        index: usize,
        id: Option<String>,
    },
}

impl InputItem {
    pub fn index(&self) -> usize {
        match self {
            InputItem::Message { index, .. }
            | InputItem::FunctionCall { index, .. }
            | InputItem::FunctionCallOutput { index, .. }
            | InputItem::ServerCall { index, .. }
            | InputItem::Reference { index, .. }
            | InputItem::Reasoning { index, .. } => *index,
        }
    }

    /// Whether the turn must look at its thread for this item: it may be stored there
    /// already, or continue a call stored there.
    pub fn needs_thread(&self) -> bool {
        !matches!(
            self,
            InputItem::Message { id: None, .. } | InputItem::Reasoning { .. }
        )
    }
}

// ------------------------------------------------------------------------------- parsing

/// Checks `input` (a string, or an array of items) item by item.
pub fn parse_input(input: &Value) -> Result<Vec<InputItem>, ApiError> {
    match input {
        Value::String(s) => Ok(vec![InputItem::Message {
            index: 0,
            role: "user".into(),
            texts: vec![s.clone()],
            id: None,
        }]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_item(i, item))
            .collect(),
        _ => Err(ApiError::invalid_type(
            "input",
            "expected a string or an array of input items",
        )),
    }
}

fn parse_item(i: usize, item: &Value) -> Result<InputItem, ApiError> {
    let param = format!("input[{i}]");
    let Some(obj) = item.as_object() else {
        return Err(ApiError::invalid_type(&param, "expected an object"));
    };
    let id = optional_str(obj, &param, "id")?;
    match obj.get("type").and_then(Value::as_str) {
        None | Some("message") => parse_message(i, obj, &param, id),
        Some("function_call") => Ok(InputItem::FunctionCall {
            index: i,
            id,
            call_id: required_str(obj, &param, "call_id")?,
            name: required_str(obj, &param, "name")?,
            arguments: required_str(obj, &param, "arguments")?,
        }),
        Some("function_call_output") => Ok(InputItem::FunctionCallOutput {
            index: i,
            call_id: required_str(obj, &param, "call_id")?,
            output: output_text(obj.get("output"), &param)?,
        }),
        Some("mcp_call") => {
            let id = id.ok_or_else(|| ApiError::missing_parameter(&format!("{param}.id")))?;
            let call_id = ids::parse_mcp_call_item_id(&id)
                .map_or_else(|| id.clone(), |(_, call)| call.to_string());
            let output = match obj.get("output") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            };
            let error = match obj.get("error") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(e) => Some(
                    e.get("content")
                        .or_else(|| e.get("message"))
                        .map_or_else(|| e.to_string(), text_of),
                ),
            };
            Ok(InputItem::ServerCall {
                index: i,
                id,
                call_id,
                name: required_str(obj, &param, "name")?,
                arguments: optional_str(obj, &param, "arguments")?.unwrap_or_else(|| "{}".into()),
                output,
                error,
            })
        }
        Some("item_reference") => Ok(InputItem::Reference {
            index: i,
            id: id.ok_or_else(|| ApiError::missing_parameter(&format!("{param}.id")))?,
        }),
        Some("reasoning") => Ok(InputItem::Reasoning { index: i, id }),
        Some(other) => Err(ApiError::unsupported(
            &param,
            &format!("`{other}` input items are not available here; send messages, function calls and their outputs"),
        )),
    }
}

fn parse_message(
    i: usize,
    obj: &Map<String, Value>,
    param: &str,
    id: Option<String>,
) -> Result<InputItem, ApiError> {
    let role = match obj.get("role") {
        None => return Err(ApiError::missing_parameter(&format!("{param}.role"))),
        Some(Value::String(r)) => r.as_str(),
        Some(_) => {
            return Err(ApiError::invalid_type(
                &format!("{param}.role"),
                "expected a string",
            ))
        }
    };
    if !matches!(role, "user" | "assistant" | "system" | "developer") {
        return Err(ApiError::invalid_value(
            &format!("{param}.role"),
            format!("Invalid value: '{role}'. Supported values are: 'user', 'assistant', 'system', and 'developer'."),
        ));
    }
    let texts = match obj.get("content") {
        None => return Err(ApiError::missing_parameter(&format!("{param}.content"))),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .filter_map(|(j, part)| part_text(param, j, part).transpose())
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::invalid_type(
                &format!("{param}.content"),
                "expected a string or an array of content parts",
            ))
        }
    };
    Ok(InputItem::Message {
        index: i,
        role: role.to_string(),
        texts,
        id,
    })
}

/// The text of one content part; `None` for a part with nothing for the model (a refusal
/// replayed from an answer keeps its text).
fn part_text(item_param: &str, j: usize, part: &Value) -> Result<Option<String>, ApiError> {
    let param = format!("{item_param}.content[{j}]");
    let field = match part.get("type").and_then(Value::as_str) {
        Some("input_text" | "output_text" | "text") => "text",
        Some("refusal") => "refusal",
        Some(kind @ ("input_image" | "input_file" | "input_audio")) => {
            return Err(ApiError::unsupported(
                &param,
                &format!("`{kind}` content is not available; this gateway forwards text only"),
            ))
        }
        Some(other) => {
            return Err(ApiError::unsupported(
                &param,
                &format!("`{other}` content parts are not available in input"),
            ))
        }
        None => return Err(ApiError::missing_parameter(&format!("{param}.type"))),
    };
    match part.get(field) {
        Some(Value::String(text)) => Ok(Some(text.clone())),
        None => Err(ApiError::missing_parameter(&format!("{param}.{field}"))),
        Some(_) => Err(ApiError::invalid_type(
            &format!("{param}.{field}"),
            "expected a string",
        )),
    }
}

/// `function_call_output.output`: a string, or text parts (joined).
fn output_text(output: Option<&Value>, param: &str) -> Result<String, ApiError> {
    match output {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                let p = format!("{param}.output");
                if let Some(t) = part_text(&p, j, part)? {
                    text.push_str(&t);
                }
            }
            Ok(text)
        }
        None | Some(Value::Null) => Err(ApiError::missing_parameter(&format!("{param}.output"))),
        Some(_) => Err(ApiError::invalid_type(
            &format!("{param}.output"),
            "expected a string or an array of content parts",
        )),
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|p| p.get("text").map_or_else(|| text_of(p), text_of))
            .collect::<Vec<_>>()
            .join(""),
        other => other.to_string(),
    }
}

fn required_str(obj: &Map<String, Value>, param: &str, key: &str) -> Result<String, ApiError> {
    optional_str(obj, param, key)?
        .ok_or_else(|| ApiError::missing_parameter(&format!("{param}.{key}")))
}

fn optional_str(
    obj: &Map<String, Value>,
    param: &str,
    key: &str,
) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid_type(
            &format!("{param}.{key}"),
            "expected a string",
        )),
    }
}

// ------------------------------------------------------------------------- the thread

/// A call stored in the turn's thread.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownCall {
    pub name: String,
    pub arguments: String,
    /// Its output is stored too.
    pub answered: bool,
}

/// What the turn's thread already holds, as the items it lists: replayed items found here
/// are not sent (nor stored) again, and an output may continue a call found here.
#[derive(Debug, Default, Clone)]
pub struct ThreadView {
    item_ids: HashSet<String>,
    calls: HashMap<String, KnownCall>,
    items: HashMap<String, Value>,
}

impl ThreadView {
    pub fn from_messages(messages: &[DbMessage]) -> Self {
        let mut view = ThreadView::default();
        for item in messages.iter().flat_map(message_items) {
            view.add(item);
        }
        view
    }

    fn add(&mut self, item: Value) {
        let kind = item["type"].as_str().unwrap_or_default().to_string();
        let call_id = match kind.as_str() {
            "mcp_call" => item["id"]
                .as_str()
                .and_then(ids::parse_mcp_call_item_id)
                .map(|(_, c)| c.to_string()),
            _ => item["call_id"].as_str().map(str::to_string),
        };
        if let Some(call_id) = call_id {
            let name = item["name"].as_str().unwrap_or_default().to_string();
            let arguments = item["arguments"].as_str().unwrap_or("{}").to_string();
            let entry = self.calls.entry(call_id).or_insert(KnownCall {
                name: String::new(),
                arguments: "{}".into(),
                answered: false,
            });
            match kind.as_str() {
                "function_call" => {
                    entry.name = name;
                    entry.arguments = arguments;
                }
                "function_call_output" => entry.answered = true,
                "mcp_call" => {
                    *entry = KnownCall {
                        name,
                        arguments,
                        answered: true,
                    }
                }
                _ => {}
            }
        }
        if let Some(id) = item["id"].as_str() {
            self.item_ids.insert(id.to_string());
            self.items.insert(id.to_string(), item);
        }
    }

    pub fn has_item(&self, id: &str) -> bool {
        self.item_ids.contains(id)
    }

    pub fn call(&self, call_id: &str) -> Option<&KnownCall> {
        self.calls.get(call_id)
    }
}

/// Drops the replayed items `thread` holds already (they are in the model's history through
/// memory, and storing them again would repeat them).
pub fn without_stored(items: Vec<InputItem>, thread: &ThreadView) -> Vec<InputItem> {
    items
        .into_iter()
        .filter(|item| match item {
            InputItem::Message { id: Some(id), .. }
            | InputItem::Reference { id, .. }
            | InputItem::ServerCall { id, .. } => !thread.has_item(id),
            InputItem::FunctionCall { call_id, .. } => thread.call(call_id).is_none(),
            InputItem::FunctionCallOutput { call_id, .. } => {
                !thread.call(call_id).is_some_and(|c| c.answered)
            }
            _ => true,
        })
        .collect()
}

/// An output item (as a response or conversation shows it) read back as an input item: what a
/// resolved `item_reference` stands for. `None` for items that give the model nothing.
pub fn item_as_input(index: usize, item: &Value) -> Result<Option<InputItem>, ApiError> {
    let parsed = parse_item(index, item)?;
    Ok(match parsed {
        InputItem::Reasoning { .. } | InputItem::Reference { .. } => None,
        other => Some(other),
    })
}

// ------------------------------------------------------------------------------ messages

/// A turn's messages, and what the stored answer must say about its tool calls.
#[derive(Debug, Default, PartialEq)]
pub struct TurnMessages {
    pub messages: Vec<Value>,
    /// The id Mastra stores the answer under when the turn continues an assistant message
    /// (the first assistant message after the last user message: Mastra merges the answer
    /// into it); `None` when Mastra picks it.
    pub answer_id: Option<String>,
    /// The id of the last user message the gateway sends (a cut answer follows it).
    pub last_user_id: Option<String>,
    /// Calls of the caller's tools the turn sends (with their outputs): listed as
    /// `function_call` / `function_call_output`, not as tools the agent ran.
    pub client_calls: Vec<String>,
    /// Calls the turn continues from the thread: their `function_call` item was listed with
    /// an earlier message; the answer lists only their output.
    pub continued: Vec<String>,
}

/// Mastra's messages for `items` (already resolved against the thread). `thread` is the
/// turn's thread, whose pending calls an output may continue. `new_id` names the messages
/// the gateway sends.
pub fn turn_messages(
    items: &[InputItem],
    thread: Option<&ThreadView>,
    new_id: &mut dyn FnMut() -> String,
) -> Result<TurnMessages, ApiError> {
    let mut b = Builder {
        out: TurnMessages::default(),
        assistant: Vec::new(),
        tool: Vec::new(),
        calls: HashMap::new(),
        after_user: false,
    };
    for item in items {
        match item {
            InputItem::Message { role, texts, .. } => match role.as_str() {
                "assistant" => {
                    b.flush_tool(new_id);
                    b.assistant
                        .extend(texts.iter().map(|t| json!({"type": "text", "text": t})));
                }
                "system" | "developer" => {
                    b.flush(new_id);
                    // Mastra's memory keeps no system messages: they instruct this turn only.
                    b.out
                        .messages
                        .push(json!({"role": "system", "content": texts.join("\n")}));
                }
                _ => {
                    b.flush(new_id);
                    let id = new_id();
                    b.out.last_user_id = Some(id.clone());
                    b.out.answer_id = None;
                    b.after_user = true;
                    let content = match texts.as_slice() {
                        [one] => json!(one),
                        _ => texts
                            .iter()
                            .map(|t| json!({"type": "text", "text": t}))
                            .collect(),
                    };
                    b.out
                        .messages
                        .push(json!({"id": id, "role": "user", "content": content}));
                }
            },
            InputItem::FunctionCall {
                call_id,
                name,
                arguments,
                ..
            } => {
                b.flush_tool(new_id);
                b.call(call_id, name, arguments);
                b.out.client_calls.push(call_id.clone());
            }
            InputItem::FunctionCallOutput {
                index,
                call_id,
                output,
            } => {
                let name = match b.calls.get(call_id) {
                    Some(name) => name.clone(),
                    None => {
                        let Some(known) = thread.and_then(|t| t.call(call_id)) else {
                            return Err(ApiError::invalid_value(
                                &format!("input[{index}]"),
                                format!("No tool call found for function call output with call_id {call_id}."),
                            ));
                        };
                        // Sent with its arguments, or Mastra stores the result with `args: {}`.
                        b.flush_tool(new_id);
                        b.call(call_id, &known.name, &known.arguments);
                        b.out.continued.push(call_id.clone());
                        b.out.client_calls.push(call_id.clone());
                        known.name.clone()
                    }
                };
                b.tool.push(json!({
                    "type": "tool-result", "toolCallId": call_id, "toolName": name,
                    "output": {"type": "text", "value": output},
                }));
            }
            InputItem::ServerCall {
                call_id,
                name,
                arguments,
                output,
                error,
                ..
            } => {
                b.flush_tool(new_id);
                b.call(call_id, name, arguments);
                let output = match (output, error) {
                    (_, Some(e)) => json!({"type": "error-text", "value": e}),
                    (Some(o), None) => json!({"type": "text", "value": o}),
                    (None, None) => json!({"type": "text", "value": ""}),
                };
                b.tool.push(json!({
                    "type": "tool-result", "toolCallId": call_id, "toolName": name, "output": output,
                }));
            }
            InputItem::Reference { index, id } => {
                // Resolved (or dropped) by the plan before this point.
                return Err(ApiError::invalid_value(
                    &format!("input[{index}]"),
                    format!("Item with id '{id}' not found."),
                ));
            }
            InputItem::Reasoning { .. } => {}
        }
    }
    b.flush(new_id);
    Ok(b.out)
}

struct Builder {
    out: TurnMessages,
    /// Parts of the assistant message being built.
    assistant: Vec<Value>,
    /// Results of its tool calls (one tool message after it).
    tool: Vec<Value>,
    /// Calls sent so far: call id → tool name.
    calls: HashMap<String, String>,
    /// A user message was sent: the first assistant message after it names the answer.
    after_user: bool,
}

impl Builder {
    fn call(&mut self, call_id: &str, name: &str, arguments: &str) {
        let (input, _) = parse_arguments(arguments);
        self.assistant.push(json!({
            "type": "tool-call", "toolCallId": call_id, "toolName": name, "input": input,
        }));
        self.calls.insert(call_id.to_string(), name.to_string());
    }

    /// Ends the assistant message (and its results) being built.
    fn flush(&mut self, new_id: &mut dyn FnMut() -> String) {
        if !self.assistant.is_empty() {
            let id = new_id();
            if self.out.answer_id.is_none() && (self.after_user || self.out.last_user_id.is_none())
            {
                self.out.answer_id = Some(id.clone());
            }
            let content = std::mem::take(&mut self.assistant);
            self.out
                .messages
                .push(json!({"id": id, "role": "assistant", "content": content}));
        }
        if !self.tool.is_empty() {
            let content = std::mem::take(&mut self.tool);
            self.out
                .messages
                .push(json!({"role": "tool", "content": content}));
        }
    }

    /// Ends the message being built when results were added to it (what follows starts a
    /// new assistant message).
    fn flush_tool(&mut self, new_id: &mut dyn FnMut() -> String) {
        if !self.tool.is_empty() {
            self.flush(new_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("m{n}")
        }
    }

    fn built(input: Value, thread: Option<&ThreadView>) -> TurnMessages {
        let items = parse_input(&input).unwrap();
        turn_messages(&items, thread, &mut ids()).unwrap()
    }

    #[test]
    fn plain_string_is_one_user_message() {
        let t = built(json!("hi"), None);
        insta::assert_json_snapshot!(t.messages);
        assert_eq!(t.answer_id, None);
        assert_eq!(t.last_user_id.as_deref(), Some("m1"));
    }

    #[test]
    fn stateless_client_tool_loop() {
        // The Agents SDK / AI SDK replay: the whole history, no previous_response_id.
        let t = built(
            json!([
                {"role": "user", "content": "CALL_CLIENT get_time"},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_time",
                 "arguments": "{\"tz\":\"UTC\"}", "status": "completed"},
                {"type": "function_call_output", "call_id": "call_1", "output": "12:00"},
            ]),
            None,
        );
        insta::assert_json_snapshot!(t.messages);
        assert_eq!(
            t.answer_id.as_deref(),
            Some("m2"),
            "the answer merges into the call"
        );
        assert_eq!(t.client_calls, ["call_1"]);
        assert!(t.continued.is_empty());
    }

    #[test]
    fn output_continuing_a_stored_call() {
        let mut thread = ThreadView::default();
        thread.add(
            json!({"type": "function_call", "id": "fc_9", "call_id": "call_9",
                          "name": "get_time", "arguments": "{\"tz\":\"CET\"}"}),
        );
        let t = built(
            json!([{"type": "function_call_output", "call_id": "call_9", "output": "13:00"}]),
            Some(&thread),
        );
        insta::assert_json_snapshot!(t.messages);
        assert_eq!(t.answer_id.as_deref(), Some("m1"));
        assert_eq!(t.continued, ["call_9"]);
    }

    #[test]
    fn output_without_its_call_names_the_item() {
        let items =
            parse_input(&json!([{"type": "function_call_output", "call_id": "c", "output": "x"}]))
                .unwrap();
        let e = turn_messages(&items, None, &mut ids()).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("input[0]"));
        assert!(e.message.contains("call_id c"), "{}", e.message);
    }

    #[test]
    fn replayed_server_tool_turn_is_history() {
        // LangChain and the Agents SDK replay the mcp_call item and the answer in full.
        let t = built(
            json!([
                {"role": "user", "content": "CALL_TOOL Rome"},
                {"type": "mcp_call", "id": "mcp_0123456789abcdef0123456789abcdef_call_7",
                 "server_label": "support-agent", "name": "get_weather",
                 "arguments": "{\"city\":\"Rome\"}", "output": "{\"tempC\":21}",
                 "status": "completed", "error": null, "approval_request_id": null},
                {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
                 "content": [{"type": "output_text", "text": "sunny", "annotations": []}]},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"role": "user", "content": "and tomorrow?"},
            ]),
            None,
        );
        insta::assert_json_snapshot!(t.messages);
        assert_eq!(
            t.answer_id, None,
            "a new user message: Mastra names the answer"
        );
        assert!(t.client_calls.is_empty());
    }

    #[test]
    fn stored_items_are_not_sent_again() {
        let mut thread = ThreadView::default();
        thread.add(json!({"type": "message", "id": "msg_a", "role": "assistant"}));
        thread.add(
            json!({"type": "function_call", "id": "fc_2", "call_id": "call_2",
                          "name": "get_time", "arguments": "{}"}),
        );
        let items = parse_input(&json!([
            {"type": "item_reference", "id": "msg_a"},
            {"type": "message", "role": "assistant", "id": "msg_a", "content": "old"},
            {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_2", "output": "now"},
            {"role": "user", "content": "next"},
        ]))
        .unwrap();
        let kept = without_stored(items, &thread);
        let kinds: Vec<usize> = kept.iter().map(InputItem::index).collect();
        assert_eq!(kinds, [3, 4], "only the new output and the new message");
    }

    #[test]
    fn bad_items_name_their_place() {
        for (input, param) in [
            (
                json!([{"type": "function_call", "name": "x", "arguments": "{}"}]),
                "input[0].call_id",
            ),
            (json!(["hi"]), "input[0]"),
            (
                json!([{"role": "user", "content": "a"}, {"type": "web_search_call", "id": "w"}]),
                "input[1]",
            ),
            (json!([{"type": "item_reference"}]), "input[0].id"),
            (
                json!([{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]),
                "input[0].content[0]",
            ),
            (
                json!([{"type": "function_call_output", "call_id": "c"}]),
                "input[0].output",
            ),
        ] {
            let e = parse_input(&input).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(param), "{input}");
        }
    }
}
