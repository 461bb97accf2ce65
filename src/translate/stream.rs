//! Mastra's Responses SSE stream → OpenAI's (reference/openai.md §2).
//!
//! Mastra's stream is already OpenAI-like; the translator fixes what differs: `sequence_number`
//! from 0 without gaps, full Response objects in lifecycle events, `fc_` item ids, `logprobs` on
//! text events, and a `response.failed` terminal event when the upstream ends or breaks without
//! one. It is pure: bytes of one upstream event in, OpenAI SSE frames appended to a buffer out.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::mastra::types::MastraResponse;
use crate::openai::response::{OutputItem, Response};
use crate::translate::response::{
    output_item_from_mastra_raw, response_from_mastra, text_part_from_mastra_raw, ResponseContext,
};

pub struct StreamTranslator {
    ctx: ResponseContext,
    next_seq: u64,
    /// The last lifecycle snapshot seen (Mastra's), the base of a synthesized `response.failed`.
    snapshot: Option<MastraResponse>,
    /// Finished OpenAI output items by `output_index`.
    done_items: BTreeMap<u64, OutputItem>,
    /// Mastra item id → OpenAI item id, for the `item_id` of content events.
    item_ids: HashMap<String, String>,
    finished: bool,
    /// A content delta (output text, function-call arguments, …) was written.
    output_started: bool,
}

#[derive(Serialize)]
struct LifecycleEvent<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    sequence_number: u64,
    response: &'a Response,
}

impl StreamTranslator {
    pub fn new(ctx: ResponseContext) -> Self {
        Self {
            ctx,
            next_seq: 0,
            snapshot: None,
            done_items: BTreeMap::new(),
            item_ids: HashMap::new(),
            finished: false,
            output_started: false,
        }
    }

    /// True once a content delta (`response.output_text.delta`,
    /// `response.function_call_arguments.delta`, …) has been written: the first token.
    pub fn output_started(&self) -> bool {
        self.output_started
    }

    /// True once a terminal event has been written; nothing more will be.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Number of events written so far.
    pub fn events_written(&self) -> u64 {
        self.next_seq
    }

    /// One upstream event's `data` payload.
    pub fn on_data(&mut self, data: &[u8], out: &mut BytesMut) {
        if self.finished {
            return;
        }
        if data == b"[DONE]" {
            return;
        }
        // Mastra writes `type` first: it tells which typed parse to try, so each event is
        // parsed once. An event it does not tell about takes the generic path.
        let sniffed = sniff_type(data);
        // Most events of a stream are deltas: they are rewritten without building a JSON tree.
        if sniffed.is_some_and(|k| k.ends_with(b".delta")) {
            if let Some(delta) = DeltaEvent::parse(data) {
                self.write_delta(&delta, out);
                return;
            }
        }
        // Lifecycle events carry a whole Response: read straight into Mastra's type.
        if sniffed.is_some_and(|k| std::str::from_utf8(k).is_ok_and(is_lifecycle)) {
            if let Some(lifecycle) = UpstreamLifecycle::parse(data) {
                self.on_lifecycle(&lifecycle.kind, lifecycle.response, out);
                return;
            }
        }
        // Anything else: its top-level fields as the upstream wrote them, the few that need it
        // rewritten, the rest copied byte for byte.
        let Ok(ShallowEvent(fields)) = serde_json::from_slice::<ShallowEvent>(data) else {
            self.fail(
                "upstream_invalid_event",
                "the upstream sent an event that is not a JSON object",
                out,
            );
            return;
        };
        let kind =
            field(&fields, "type").and_then(|v| serde_json::from_str::<String>(v.get()).ok());
        let Some(kind) = kind else {
            self.fail(
                "upstream_invalid_event",
                "the upstream sent an event without a type",
                out,
            );
            return;
        };
        match kind.as_str() {
            k if is_lifecycle(k) => {
                let response = field(&fields, "response")
                    .map(|r| serde_json::from_str::<MastraResponse>(r.get()));
                match response {
                    Some(Ok(mastra)) => self.on_lifecycle(&kind, mastra, out),
                    _ => self.fail(
                        "upstream_invalid_event",
                        "a lifecycle event had no valid response object",
                        out,
                    ),
                }
            }
            "error" => {
                // Rare: a tree is fine here.
                let event: Value = serde_json::from_slice(data).unwrap_or_default();
                let message = event
                    .get("message")
                    .or_else(|| event.get("error").and_then(|e| e.get("message")))
                    .and_then(Value::as_str)
                    .unwrap_or("the agent failed")
                    .to_string();
                self.fail("server_error", &message, out);
            }
            _ => self.write_generic(&kind, fields, out),
        }
    }

    /// Writes an event of the generic path: output items rewritten (`fc_` ids, `status`,
    /// text parts completed), content events pointed at the rewritten item ids, text parts
    /// given `annotations`/`logprobs`, `logprobs` on text events, `sequence_number` renumbered.
    fn write_generic<'a>(
        &mut self,
        kind: &str,
        fields: Vec<(Cow<'a, str>, &'a RawValue)>,
        out: &mut BytesMut,
    ) {
        let output_index = field(&fields, "output_index").and_then(|v| v.get().parse::<u64>().ok());
        let mut event: Vec<(Cow<'a, str>, Field<'a>)> = Vec::with_capacity(fields.len() + 2);
        for (key, raw) in fields {
            let value = match key.as_ref() {
                "item" => {
                    let item = self.rewrite_item(raw);
                    if kind == "response.output_item.done" {
                        if let Some(idx) = output_index {
                            self.done_items.insert(idx, item.clone());
                        }
                    }
                    Field::Item(item)
                }
                "item_id" => self.map_item_id(raw),
                "part" => text_part_from_mastra_raw(raw).map_or(Field::Raw(raw), Field::Value),
                "sequence_number" => Field::Seq(self.next_seq),
                _ => Field::Raw(raw),
            };
            event.push((key, value));
        }
        let has = |event: &[(Cow<str>, Field)], key: &str| event.iter().any(|(k, _)| k == key);
        if (kind == "response.output_text.delta" || kind == "response.output_text.done")
            && !has(&event, "logprobs")
        {
            if let Some(empty) = EMPTY_LIST.as_deref() {
                event.push((Cow::Borrowed("logprobs"), Field::Raw(empty)));
            }
        }
        if !has(&event, "sequence_number") {
            event.push((Cow::Borrowed("sequence_number"), Field::Seq(self.next_seq)));
        }
        self.next_seq += 1;
        self.output_started |= kind.ends_with(".delta");
        frame(kind, &EventOut(&event), out);
    }

    /// An output item as OpenAI writes it; a tool item's new id is remembered, so the content
    /// events that name the item by its Mastra id point at the new one.
    fn rewrite_item(&mut self, raw: &RawValue) -> OutputItem {
        let item = output_item_from_mastra_raw(raw.to_owned());
        if let OutputItem::Rewritten(value) = &item {
            let original = serde_json::from_str::<ItemId>(raw.get())
                .ok()
                .and_then(|i| i.id);
            if let (Some(orig), Some(new)) = (original, value.get("id").and_then(Value::as_str)) {
                if orig != new {
                    self.item_ids.insert(orig.into_owned(), new.to_string());
                }
            }
        }
        item
    }

    fn map_item_id<'a>(&self, raw: &'a RawValue) -> Field<'a> {
        if self.item_ids.is_empty() {
            return Field::Raw(raw);
        }
        serde_json::from_str::<String>(raw.get())
            .ok()
            .and_then(|id| self.item_ids.get(&id))
            .map_or(Field::Raw(raw), |mapped| {
                Field::Value(Value::String(mapped.clone()))
            })
    }

    fn on_lifecycle(&mut self, kind: &str, mastra: MastraResponse, out: &mut BytesMut) {
        if matches!(kind, "response.created" | "response.in_progress") {
            self.snapshot = Some(mastra.clone());
        }
        let response = response_from_mastra(mastra, &self.ctx);
        self.write_lifecycle(kind, &response, out);
        if matches!(
            kind,
            "response.completed" | "response.incomplete" | "response.failed"
        ) {
            self.finished = true;
        }
    }

    /// The upstream body broke (connection reset, idle timeout, …).
    pub fn on_upstream_error(&mut self, message: &str, out: &mut BytesMut) {
        self.fail("server_error", message, out);
    }

    /// The upstream body ended. Without a terminal event, the client gets `response.failed`.
    pub fn on_upstream_end(&mut self, out: &mut BytesMut) {
        self.fail(
            "server_error",
            "the upstream stream ended before the response was complete",
            out,
        );
    }

    /// Writes `response.failed` (preceded by `response.created` if nothing was sent yet) and
    /// finishes the stream. No-op once finished.
    fn fail(&mut self, code: &str, message: &str, out: &mut BytesMut) {
        if self.finished {
            return;
        }
        let mut base = self.snapshot.clone().unwrap_or_else(|| MastraResponse {
            id: format!("msg_{}", uuid::Uuid::new_v4()),
            created_at: Some(unix_now()),
            status: Some("in_progress".into()),
            ..MastraResponse::default()
        });
        if self.next_seq == 0 {
            let created = response_from_mastra(base.clone(), &self.ctx);
            self.write_lifecycle("response.created", &created, out);
        }
        base.status = Some("failed".into());
        base.error = json!({"code": code, "message": message});
        base.usage = None;
        let mut response = response_from_mastra(base, &self.ctx);
        response.output = self.done_items.values().cloned().collect();
        self.write_lifecycle("response.failed", &response, out);
        self.finished = true;
    }

    fn write_lifecycle(&mut self, kind: &str, response: &Response, out: &mut BytesMut) {
        let event = LifecycleEvent {
            kind,
            sequence_number: self.next_seq,
            response,
        };
        self.next_seq += 1;
        frame(kind, &event, out);
    }

    /// A delta event as the generic path would write it (fields in OpenAI's order): the item
    /// id mapped, `sequence_number` renumbered and `logprobs` on text deltas.
    fn write_delta(&mut self, delta: &DeltaEvent<'_>, out: &mut BytesMut) {
        let kind = delta.kind.as_ref();
        let mapped = delta
            .item_id
            .as_deref()
            .map(|id| self.item_ids.get(id).map_or(id, String::as_str));
        let event = DeltaOut {
            kind,
            output_index: delta.output_index,
            content_index: delta.content_index,
            item_id: mapped,
            delta: delta.delta,
            sequence_number: self.next_seq,
            logprobs: delta.logprobs.or(EMPTY_LIST
                .as_deref()
                .filter(|_| kind == "response.output_text.delta")),
        };
        self.next_seq += 1;
        self.output_started = true;
        frame(kind, &event, out);
    }
}

fn is_lifecycle(kind: &str) -> bool {
    matches!(
        kind,
        "response.created"
            | "response.in_progress"
            | "response.queued"
            | "response.completed"
            | "response.incomplete"
            | "response.failed"
    )
}

/// An upstream lifecycle event (`response.created`, `…completed`, …), parsed in one pass.
#[derive(Deserialize)]
struct UpstreamLifecycle {
    #[serde(rename = "type")]
    kind: String,
    response: MastraResponse,
}

impl UpstreamLifecycle {
    fn parse(data: &[u8]) -> Option<Self> {
        let event: Self = serde_json::from_slice(data).ok()?;
        is_lifecycle(&event.kind).then_some(event)
    }
}

/// The event's `type` when the event starts with it (`{"type":"…"`, as Mastra writes it) and it
/// holds no escape; `None` otherwise. Only a hint for which parse to try: each parse checks.
fn sniff_type(data: &[u8]) -> Option<&[u8]> {
    let rest = data.strip_prefix(b"{\"type\":\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[end] == b'"').then(|| &rest[..end])
}

/// An upstream `*.delta` event (text, function-call arguments, reasoning …) with exactly
/// the fields Mastra sends, borrowed from the event's bytes. Anything else (another field, a
/// different type) takes the generic path, so nothing an upstream sends is dropped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeltaEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    output_index: Option<u64>,
    #[serde(default)]
    content_index: Option<u64>,
    #[serde(default, borrow)]
    item_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    delta: &'a RawValue,
    #[serde(default, borrow)]
    logprobs: Option<&'a RawValue>,
    #[allow(dead_code)] // renumbered: the upstream's value is not used
    #[serde(default)]
    sequence_number: Option<u64>,
}

impl<'a> DeltaEvent<'a> {
    /// The event when it is a plain delta; `None` sends it down the generic path.
    fn parse(data: &'a [u8]) -> Option<Self> {
        let event: Self = serde_json::from_slice(data).ok()?;
        event.kind.ends_with(".delta").then_some(event)
    }
}

#[derive(Serialize)]
struct DeltaOut<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    item_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<u64>,
    delta: &'a RawValue,
    sequence_number: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<&'a RawValue>,
}

/// An event's top-level fields in the upstream's order, each value as the upstream wrote it (a
/// key given twice keeps its first place and its last value, as a JSON object would).
struct ShallowEvent<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for ShallowEvent<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = ShallowEvent<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut fields: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::with_capacity(8);
                while let Some(Key(key)) = map.next_key()? {
                    let value = map.next_value()?;
                    match fields.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = value,
                        None => fields.push((key, value)),
                    }
                }
                Ok(ShallowEvent(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// A key, borrowed from the event's bytes unless it holds an escape.
#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// Only an item's `id`.
#[derive(Deserialize)]
struct ItemId<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
}

fn field<'a>(fields: &[(Cow<'_, str>, &'a RawValue)], key: &str) -> Option<&'a RawValue> {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

/// A field of an event written by the generic path.
enum Field<'a> {
    Raw(&'a RawValue),
    Value(Value),
    Item(OutputItem),
    Seq(u64),
}

impl Serialize for Field<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Raw(raw) => raw.serialize(s),
            Field::Value(value) => value.serialize(s),
            Field::Item(item) => item.serialize(s),
            Field::Seq(n) => s.serialize_u64(*n),
        }
    }
}

struct EventOut<'e, 'a>(&'e [(Cow<'a, str>, Field<'a>)]);

impl Serialize for EventOut<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key.as_ref(), value)?;
        }
        map.end()
    }
}

/// `[]`, the `logprobs` of a text delta that came without them.
static EMPTY_LIST: std::sync::LazyLock<Option<Box<RawValue>>> =
    std::sync::LazyLock::new(|| RawValue::from_string("[]".to_string()).ok());

/// `event: <type>\ndata: <json>\n\n`.
fn frame(kind: &str, payload: &impl Serialize, out: &mut BytesMut) {
    out.put_slice(b"event: ");
    out.put_slice(kind.as_bytes());
    out.put_slice(b"\ndata: ");
    let mut writer = out.writer();
    // Serializing our own in-memory values cannot fail.
    let _ = serde_json::to_writer(&mut writer, payload);
    let out = writer.into_inner();
    out.put_slice(b"\n\n");
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mastra::sse::SseDecoder;
    use crate::translate::response::RequestEcho;

    fn ctx(conversation: Option<&str>) -> ResponseContext {
        ResponseContext {
            model: "support-agent".into(),
            conversation: conversation.map(str::to_string),
            echo: RequestEcho::default(),
        }
    }

    /// Runs a recorded upstream stream through the translator, cut after `cut` bytes if given.
    fn translate(file: &str, cut: Option<usize>) -> Vec<Value> {
        let raw =
            std::fs::read(format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let raw = &raw[..cut.unwrap_or(raw.len()).min(raw.len())];
        let mut dec = SseDecoder::new();
        let mut t = StreamTranslator::new(ctx(Some("thread-1")));
        let mut out = BytesMut::new();
        for chunk in raw.chunks(97) {
            dec.push(bytes::Bytes::copy_from_slice(chunk));
            while let Some(ev) = dec.next_event() {
                t.on_data(&ev.data, &mut out);
            }
        }
        t.on_upstream_end(&mut out);
        parse_openai_sse(&out)
    }

    /// Parses our own output and checks the framing rules on the way.
    fn parse_openai_sse(out: &[u8]) -> Vec<Value> {
        let text = std::str::from_utf8(out).unwrap();
        assert!(text.ends_with("\n\n"));
        assert!(!text.contains("[DONE]"));
        text.trim_end()
            .split("\n\n")
            .map(|block| {
                let mut lines = block.lines();
                let ev = lines.next().unwrap().strip_prefix("event: ").unwrap();
                let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
                assert!(lines.next().is_none());
                let v: Value = serde_json::from_str(data).unwrap();
                assert_eq!(v["type"], ev);
                v
            })
            .collect()
    }

    fn assert_dense(events: &[Value]) {
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e["sequence_number"], i as u64, "{e}");
        }
    }

    /// Events with bulky `response` bodies reduced to the fields a reader checks.
    fn summary(events: &[Value]) -> Vec<Value> {
        events
            .iter()
            .map(|e| {
                let mut e = e.clone();
                if let Some(r) = e.get_mut("response") {
                    *r = json!({
                        "id": r["id"], "status": r["status"], "output": r["output"],
                        "usage": r["usage"], "error": r["error"], "conversation": r["conversation"],
                        "model": r["model"],
                    });
                }
                e
            })
            .collect()
    }

    #[test]
    fn text_turn() {
        let events = translate("mastra_stream_text.sse", None);
        assert_dense(&events);
        insta::assert_json_snapshot!(summary(&events), {"[].response.id" => "[id]", "[].item_id" => "[id]", "[].item.id" => "[id]", "[].response.output[].id" => "[id]"});
        let full = events.last().unwrap();
        assert_eq!(full["type"], "response.completed");
        insta::assert_json_snapshot!("text_turn_completed", full, {".response.id" => "[id]", ".response.output[].id" => "[id]", ".response.created_at" => "[ts]", ".response.completed_at" => "[ts]"});
    }

    #[test]
    fn tool_turn() {
        let events = translate("mastra_stream_tool.sse", None);
        assert_dense(&events);
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types[0], "response.created");
        assert_eq!(types[1], "response.in_progress");
        assert_eq!(*types.last().unwrap(), "response.completed");
        // The function-call item is `fc_…`, and its argument events point at it.
        let added = &events[2];
        assert_eq!(added["item"]["type"], "function_call");
        let fc_id = added["item"]["id"].as_str().unwrap();
        assert!(fc_id.starts_with("fc_"));
        assert!(added["item"]["call_id"]
            .as_str()
            .unwrap()
            .starts_with("call_"));
        assert_eq!(events[3]["item_id"], fc_id);
        insta::assert_json_snapshot!(summary(&events), {"[].response.id" => "[id]", "[].item_id" => "[id]", "[].item.id" => "[id]", "[].item.call_id" => "[id]", "[].response.output[].id" => "[id]", "[].response.output[].call_id" => "[id]"});
    }

    /// Deltas take a fast path; one with a field it does not know takes the generic path and
    /// keeps the field. Both write the same event otherwise.
    #[test]
    fn delta_fast_path_and_generic_path_agree() {
        let run = |data: &str| {
            let mut t = StreamTranslator::new(ctx(None));
            let mut out = BytesMut::new();
            t.on_data(data.as_bytes(), &mut out);
            parse_openai_sse(&out).remove(0)
        };
        let plain = r#"{"type":"response.output_text.delta","output_index":0,"content_index":0,"item_id":"msg_1","delta":"h\u00e9 \"x\"","sequence_number":7}"#;
        let extra = r#"{"type":"response.output_text.delta","output_index":0,"content_index":0,"item_id":"msg_1","delta":"h\u00e9 \"x\"","sequence_number":7,"obfuscation":"abc"}"#;
        assert!(DeltaEvent::parse(plain.as_bytes()).is_some());
        assert!(DeltaEvent::parse(extra.as_bytes()).is_none());
        let fast = run(plain);
        let mut generic = run(extra);
        assert_eq!(generic["obfuscation"], "abc");
        generic.as_object_mut().unwrap().remove("obfuscation");
        assert_eq!(fast, generic);
        assert_eq!(
            fast,
            json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
                   "content_index": 0, "delta": "h\u{e9} \"x\"", "sequence_number": 0,
                   "logprobs": []})
        );
    }

    /// The type read ahead of parsing only picks which parse to try: a lifecycle event whose
    /// `type` is not its first field takes the generic path and comes out the same.
    #[test]
    fn sniffed_type_and_generic_path_agree_on_lifecycle_events() {
        assert_eq!(
            sniff_type(br#"{"type":"response.created","x":1}"#),
            Some(&b"response.created"[..])
        );
        assert_eq!(sniff_type(br#"{"type":"a\"b"}"#), None);
        assert_eq!(sniff_type(br#"{ "type":"response.created"}"#), None);
        assert_eq!(sniff_type(br#"{"type":"unterminated"#), None);
        let run = |data: &str| {
            let mut t = StreamTranslator::new(ctx(None));
            let mut out = BytesMut::new();
            t.on_data(data.as_bytes(), &mut out);
            parse_openai_sse(&out).remove(0)
        };
        let response = r#"{"id":"msg_1","object":"response","created_at":1,"status":"in_progress","output":[],"usage":null,"error":null}"#;
        let first = run(&format!(
            r#"{{"type":"response.created","response":{response},"sequence_number":0}}"#
        ));
        let last = run(&format!(
            r#"{{"response":{response},"sequence_number":0,"type":"response.created"}}"#
        ));
        assert_eq!(first["type"], "response.created");
        assert_eq!(first["response"]["id"], "resp_1");
        assert_eq!(first, last);
    }

    /// The generic path copies what it does not rewrite as the upstream wrote it, keeps the
    /// upstream's field order, and rewrites parts, `logprobs` and `sequence_number`.
    #[test]
    fn generic_path_rewrites_only_what_it_must() {
        let mut t = StreamTranslator::new(ctx(None));
        let mut out = BytesMut::new();
        t.on_data(
            br#"{"type":"response.content_part.added","item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","text":""},"x":{"a":1.50,"b":"\u00e9"},"sequence_number":9}"#,
            &mut out,
        );
        t.on_data(
            br#"{"type":"response.output_text.done","item_id":"msg_1","text":"hi","x":1,"x":2}"#,
            &mut out,
        );
        let text = std::str::from_utf8(&out).unwrap();
        // Untouched values keep their bytes; keys keep their order.
        assert!(
            text.contains(r#""x":{"a":1.50,"b":"\u00e9"},"sequence_number":0}"#),
            "{text}"
        );
        let events = parse_openai_sse(&out);
        assert_eq!(
            events[0]["part"],
            json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []})
        );
        // A key given twice: its last value, once. `logprobs` and the number come last.
        assert!(
            text.contains(r#""text":"hi","x":2,"logprobs":[],"sequence_number":1}"#),
            "{text}"
        );
        assert_dense(&events);
    }

    #[test]
    fn broken_upstream_stream_ends_with_failed() {
        // Cut in the middle of the text deltas of the tool turn.
        let raw_len = std::fs::read(format!(
            "{}/tests/data/mastra_stream_tool.sse",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .len();
        let events = translate("mastra_stream_tool.sse", Some(raw_len * 2 / 3));
        assert_dense(&events);
        let last = events.last().unwrap();
        assert_eq!(last["type"], "response.failed");
        assert_eq!(last["response"]["status"], "failed");
        assert_eq!(last["response"]["error"]["code"], "server_error");
        insta::assert_json_snapshot!(summary(&events), {"[].response.id" => "[id]", "[].item_id" => "[id]", "[].item.id" => "[id]", "[].item.call_id" => "[id]", "[].response.output[].id" => "[id]", "[].response.output[].call_id" => "[id]"});
    }

    #[test]
    fn nothing_then_end_gives_created_and_failed() {
        let mut t = StreamTranslator::new(ctx(None));
        let mut out = BytesMut::new();
        t.on_upstream_error("connection reset", &mut out);
        let events = parse_openai_sse(&out);
        assert_dense(&events);
        assert_eq!(events[0]["type"], "response.created");
        assert_eq!(events[1]["type"], "response.failed");
        assert_eq!(
            events[1]["response"]["error"]["message"],
            "connection reset"
        );
        assert_eq!(events[0]["response"]["id"], events[1]["response"]["id"]);
        assert!(t.is_finished());
        t.on_data(b"{\"type\":\"response.output_text.delta\"}", &mut out);
        assert_eq!(
            parse_openai_sse(&out).len(),
            2,
            "nothing after the terminal event"
        );
    }

    #[test]
    fn first_content_delta_marks_output_started() {
        let mut t = StreamTranslator::new(ctx(None));
        let mut out = BytesMut::new();
        t.on_data(
            br#"{"type":"response.output_item.added","output_index":0,"item":{"id":"fc_1","type":"function_call","call_id":"c","name":"f","arguments":""}}"#,
            &mut out,
        );
        assert!(!t.output_started(), "an item announcement is not a token");
        t.on_data(
            br#"{"type":"response.function_call_arguments.delta","output_index":0,"item_id":"fc_1","delta":"{"}"#,
            &mut out,
        );
        assert!(t.output_started());
    }

    #[test]
    fn garbage_event_fails_the_stream() {
        let mut t = StreamTranslator::new(ctx(None));
        let mut out = BytesMut::new();
        t.on_data(b"not json", &mut out);
        let events = parse_openai_sse(&out);
        assert_eq!(events.last().unwrap()["type"], "response.failed");
    }
}
