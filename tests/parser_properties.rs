//! Property tests over what reads untrusted bytes: the request parsers (Responses, Chat
//! Completions, Conversations), the SSE decoder, the translation of Mastra's native chunk
//! stream into both APIs' streams, and path ids (issue 14, "Proof"). The properties themselves
//! live in `parser_checks/mod.rs`, shared with the libFuzzer targets in `fuzz/`
//! (fuzz/README.md): these tests are the cheap run of the same checks that every `cargo test`
//! makes (a few seconds), the fuzzer the long one.
//!
//! Inputs are generated close to what the parsers expect (known field names, item shapes,
//! chunk templates, turns in Mastra's order) and then sometimes broken (cut, a byte changed,
//! a value of another type), so that most cases get past the first refusal.

mod parser_checks;

use parser_checks as checks;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Map, Value};

// ------------------------------------------------------------------------------ generators

/// Strings the code compares against, plus awkward ones.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "", "user", "assistant", "system", "developer", "tool", "message", "input_text",
            "output_text", "text", "refusal", "input_image", "function_call",
            "function_call_output", "reasoning", "json_object", "json_schema", "auto",
            "resp_abc", "msg_1", "conv_1", "call_1", "fc_1", ".", "..", "a/b", "%2e%2e",
            "x\u{0}y", "\u{7f}", "\u{85}", "é🙂", "[DONE]", "true", "null", "0",
            "mastra_gateway.agent", "mastra_gateway", "function", "get_time", "get_weather",
            "mcp_call", "item_reference", "none", "required", "image_url", "a\nb", "\r",
        ])
        .prop_map(str::to_string),
        1 => any::<String>(),
        1 => "[a-z_.]{0,12}",
        1 => prop::collection::vec(Just('x'), 250..300).prop_map(|v| v.into_iter().collect()),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..200).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        word().prop_map(Value::String),
    ]
}

/// Any JSON value, its keys mostly names the parsers know.
fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "type", "role", "content", "text", "id", "call_id", "name", "arguments", "output",
            "status", "format", "schema", "metadata", "items", "input", "model", "item",
            "part", "delta", "response", "item_id", "output_index", "content_index",
            "sequence_number", "logprobs", "annotations", "error", "message", "usage",
        ])
        .prop_map(str::to_string),
        1 => word(),
    ]
}

/// An object with each of `fields` present or not, and now and then a key of any kind.
fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    object_with(0.5, fields)
}

/// The same, for objects whose fields are mostly required: each present with `p`.
fn object_with(p: f64, fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let n = fields.len();
    let parts: Vec<BoxedStrategy<Option<(String, Value)>>> = fields
        .into_iter()
        .map(|(k, s)| prop::option::weighted(p, s.prop_map(move |v| (k.to_string(), v))).boxed())
        .collect();
    (
        parts,
        prop::collection::vec((key(), value()), 0..2),
        0..10usize,
    )
        .prop_map(move |(present, extra, extra_roll)| {
            let mut m: Map<String, Value> = present.into_iter().flatten().collect();
            if extra_roll < 1 || n == 0 {
                m.extend(extra);
            }
            Value::Object(m)
        })
        .boxed()
}

fn s(choices: &[&'static str]) -> BoxedStrategy<Value> {
    prop_oneof![
        12 => prop::sample::select(choices.to_vec()).prop_map(Value::from),
        1 => value(),
    ]
    .boxed()
}

fn content_part() -> BoxedStrategy<Value> {
    object_with(
        0.9,
        vec![
            (
                "type",
                s(&[
                    "input_text",
                    "output_text",
                    "text",
                    "input_text",
                    "refusal",
                    "input_image",
                ]),
            ),
            ("text", word().prop_map(Value::String).boxed()),
        ],
    )
}

fn content() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => word().prop_map(Value::String),
        4 => prop::collection::vec(content_part(), 0..3).prop_map(Value::Array),
        1 => value(),
    ]
    .boxed()
}

/// An input or conversation item: a message, a function call or its output, or anything.
fn item() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => object_with(0.9, vec![
            ("type", s(&["message"])),
            ("role", s(&["user", "assistant", "system", "developer", "user", "assistant", "tool"])),
            ("content", content()),
            ("id", word().prop_map(Value::String).boxed()),
        ]),
        2 => object_with(0.9, vec![
            ("type", s(&["function_call", "function_call_output", "reasoning", "mcp_call",
                "item_reference"])),
            ("id", s(&["fc_1", "mcp_0123456789abcdef0123456789abcdef_call_1", "msg_1"])),
            ("call_id", s(&["call_1", "call_2"])),
            ("name", s(&["get_weather", "get_time"])),
            ("arguments", s(&["{\"city\":\"Oslo\"}", "{", ""])),
            ("output", s(&["sunny", ""])),
        ]),
        1 => value(),
    ]
    .boxed()
}

/// An item of `input`: mostly messages, then calls (`call_1` mostly, so that an output finds
/// its call) and the rest.
fn input_item() -> BoxedStrategy<Value> {
    prop_oneof![
        6 => object_with(0.9, vec![
            ("type", s(&["message"])),
            ("role", s(&["user", "assistant", "system", "developer", "user", "tool"])),
            ("content", content()),
        ]),
        2 => item(),
    ]
    .boxed()
}

/// A function tool (Responses' flat form when `nested` is false, Chat's otherwise).
fn function_tool(nested: bool) -> BoxedStrategy<Value> {
    let def =
        object_with(
            0.95,
            vec![
            ("name", s(&["get_time", "get_weather", "get_time", "get_weather", "bad name", ""])),
            ("description", s(&["What time it is."])),
            (
                "parameters",
                prop_oneof![
                    4 => Just(json!({"type": "object", "properties": {"tz": {"type": "string"}}})),
                    1 => value(),
                ]
                .boxed(),
            ),
            ("strict", any::<bool>().prop_map(Value::Bool).boxed()),
        ],
        );
    prop_oneof![
        8 => (def, s(&["function", "function", "function", "web_search"])).prop_map(move |(def, kind)| {
            if nested {
                json!({"type": kind, "function": def})
            } else {
                let mut t = def;
                if let Some(m) = t.as_object_mut() {
                    m.insert("type".into(), kind);
                }
                t
            }
        }),
        1 => value(),
    ]
    .boxed()
}

fn tool_choice(nested: bool) -> BoxedStrategy<Value> {
    prop_oneof![
        4 => s(&["auto", "none", "required", "any"]),
        2 => s(&["get_time", "get_weather"]).prop_map(move |name| if nested {
            json!({"type": "function", "function": {"name": name}})
        } else {
            json!({"type": "function", "name": name})
        }),
        1 => value(),
    ]
    .boxed()
}

fn metadata() -> BoxedStrategy<Value> {
    let pairs = |keys: BoxedStrategy<String>, n: std::ops::Range<usize>| {
        prop::collection::btree_map(keys, word().prop_map(Value::String), n)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    };
    prop_oneof![
        8 => pairs("[a-z_.]{1,10}".boxed(), 0..4),
        1 => pairs("[a-z]{1,3}".boxed(), 14..18),
        1 => pairs(word().boxed(), 0..3),
        1 => value(),
    ]
    .boxed()
}

fn create_response_body() -> BoxedStrategy<Value> {
    let num = || prop_oneof![8 => (1u64..3).prop_map(|f| json!(f)), 1 => leaf()].boxed();
    let input = prop_oneof![
        2 => word().prop_map(Value::String),
        4 => prop::collection::vec(input_item(), 0..4).prop_map(Value::Array),
        1 => value(),
    ];
    let rest =
        object_with(
            0.3,
            vec![
            ("model", s(&["agent-1", ""])),
            ("instructions", s(&["Be brief."])),
            ("previous_response_id", s(&["resp_abc", "resp_", "..", ""])),
            (
                "conversation",
                prop_oneof![
                    4 => word().prop_map(Value::String),
                    4 => word().prop_map(|id| json!({ "id": id })),
                    1 => value(),
                ]
                .boxed(),
            ),
            ("store", any::<bool>().prop_map(Value::Bool).boxed()),
            ("stream", any::<bool>().prop_map(Value::Bool).boxed()),
            (
                "background",
                prop_oneof![4 => Just(json!(false)), 1 => Just(json!(true))].boxed(),
            ),
            ("metadata", metadata()),
            ("temperature", num()),
            ("top_p", num()),
            ("max_output_tokens", num()),
            (
                "tools",
                prop_oneof![
                    2 => Just(json!([])),
                    4 => prop::collection::vec(function_tool(false), 0..3).prop_map(Value::Array),
                    1 => prop::collection::vec(value(), 0..2).prop_map(Value::Array),
                ]
                .boxed(),
            ),
            ("tool_choice", tool_choice(false)),
            ("parallel_tool_calls", any::<bool>().prop_map(Value::Bool).boxed()),
            (
                "text",
                object(vec![(
                    "format",
                    object(vec![
                        ("type", s(&["text", "json_object", "json_schema", "xml"])),
                        ("name", s(&["answer"])),
                        ("schema", value().boxed()),
                    ]),
                )]),
            ),
            (
                "include",
                prop::collection::vec(
                    s(&[
                        "message.output_text.logprobs",
                        "reasoning.encrypted_content",
                        "x",
                    ]),
                    0..3,
                )
                .prop_map(Value::Array)
                .boxed(),
            ),
            ("truncation", s(&["auto", "disabled"])),
            ("prompt_cache_retention", s(&["24h"])),
        ],
        );
    // `input` is required: mostly there.
    (rest, prop::option::weighted(0.9, input))
        .prop_map(|(mut body, input)| {
            if let (Some(input), Some(m)) = (input, body.as_object_mut()) {
                m.insert("input".into(), input);
            }
            body
        })
        .boxed()
}

/// A Chat message: any role, string or part content, an assistant's `tool_calls`, a tool
/// message answering `call_1` or `call_2`.
fn chat_message() -> BoxedStrategy<Value> {
    let part = object_with(
        0.97,
        vec![
            (
                "type",
                s(&[
                    "text",
                    "text",
                    "text",
                    "text",
                    "refusal",
                    "image_url",
                    "input_audio",
                    "file",
                ]),
            ),
            ("text", word().prop_map(Value::String).boxed()),
        ],
    );
    let content = || {
        prop_oneof![
            8 => word().prop_map(Value::String),
            3 => prop::collection::vec(part.clone(), 0..3).prop_map(Value::Array),
            1 => Just(Value::Null),
            1 => value(),
        ]
        .boxed()
    };
    let call = object_with(
        0.9,
        vec![
            ("id", s(&["call_1", "call_2"])),
            ("type", s(&["function"])),
            (
                "function",
                object_with(
                    0.9,
                    vec![
                        ("name", s(&["get_time", "get_weather"])),
                        ("arguments", s(&["{\"tz\":\"CET\"}", "{", ""])),
                    ],
                ),
            ),
        ],
    );
    prop_oneof![
        10 => object_with(0.97, vec![
            ("role", s(&["user", "user", "user", "user", "system", "developer", "assistant"])),
            ("content", content()),
            ("name", s(&["ann"])),
        ]),
        1 => object_with(0.9, vec![
            ("role", s(&["tool", "function", "robot", ""])),
            ("content", content()),
        ]),
        2 => object_with(0.97, vec![
            ("role", s(&["assistant"])),
            ("content", prop_oneof![Just(Value::Null), word().prop_map(Value::String)].boxed()),
            ("tool_calls", prop::collection::vec(call, 0..3).prop_map(Value::Array).boxed()),
        ]),
        2 => object_with(0.97, vec![
            ("role", s(&["tool"])),
            ("tool_call_id", s(&["call_1", "call_2", "call_9"])),
            ("content", s(&["12:00", ""])),
        ]),
        1 => value(),
    ]
    .boxed()
}

/// A Chat request: its fields mostly valid (each refusable one refused now and then), so that
/// most bodies get through `validate` to the turn.
fn chat_body() -> BoxedStrategy<Value> {
    let num = || prop_oneof![8 => (0u64..2).prop_map(|f| json!(f)), 1 => leaf()].boxed();
    let mostly = |ok: Value| prop_oneof![6 => Just(ok), 1 => value()].boxed();
    let rest = object_with(
        0.25,
        vec![
            ("model", s(&["agent-1", ""])),
            ("stream", any::<bool>().prop_map(Value::Bool).boxed()),
            (
                "stream_options",
                object(vec![
                    ("include_usage", any::<bool>().prop_map(Value::Bool).boxed()),
                    (
                        "include_obfuscation",
                        any::<bool>().prop_map(Value::Bool).boxed(),
                    ),
                ]),
            ),
            ("temperature", num()),
            ("top_p", num()),
            ("presence_penalty", num()),
            ("frequency_penalty", num()),
            ("n", mostly(json!(1))),
            ("max_tokens", num()),
            ("max_completion_tokens", num()),
            ("seed", num()),
            (
                "stop",
                prop_oneof![
                    2 => word().prop_map(Value::String),
                    2 => prop::collection::vec(word().prop_map(Value::String), 0..6)
                        .prop_map(Value::Array),
                    1 => value(),
                ]
                .boxed(),
            ),
            ("logprobs", mostly(json!(false))),
            ("top_logprobs", mostly(json!(0))),
            ("user", s(&["u1"])),
            (
                "tools",
                prop::collection::vec(function_tool(true), 0..2)
                    .prop_map(Value::Array)
                    .boxed(),
            ),
            ("tool_choice", tool_choice(true)),
            (
                "parallel_tool_calls",
                any::<bool>().prop_map(Value::Bool).boxed(),
            ),
            (
                "response_format",
                object_with(
                    0.9,
                    vec![
                        (
                            "type",
                            s(&["text", "json_object", "json_schema", "json_schema", "xml"]),
                        ),
                        (
                            "json_schema",
                            object_with(
                                0.9,
                                vec![("name", s(&["answer"])), ("schema", value().boxed())],
                            ),
                        ),
                    ],
                ),
            ),
            (
                "modalities",
                prop::collection::vec(s(&["text", "text", "audio"]), 0..2)
                    .prop_map(Value::Array)
                    .boxed(),
            ),
            ("audio", mostly(Value::Null)),
            ("logit_bias", mostly(json!({}))),
            ("functions", mostly(Value::Null)),
            ("prediction", mostly(Value::Null)),
            ("metadata", metadata()),
            ("store", any::<bool>().prop_map(Value::Bool).boxed()),
            ("reasoning_effort", s(&["low"])),
        ],
    );
    // `messages` is required: mostly there.
    let messages = prop_oneof![
        8 => prop::collection::vec(chat_message(), 1..4).prop_map(Value::Array),
        1 => Just(json!([])),
        1 => value(),
    ];
    (rest, prop::option::weighted(0.9, messages), 0..5u8)
        .prop_map(|(mut body, messages, roll)| {
            if let Some(m) = body.as_object_mut() {
                if let Some(messages) = messages {
                    m.insert("messages".into(), messages);
                }
                // `stream_options` need `stream: true`: mostly given.
                if m.contains_key("stream_options") && roll > 0 {
                    m.insert("stream".into(), json!(true));
                }
            }
            body
        })
        .boxed()
}

fn conversations_body() -> BoxedStrategy<Value> {
    object(vec![
        (
            "items",
            prop_oneof![
                4 => prop::collection::vec(item(), 0..5).prop_map(Value::Array),
                1 => prop::collection::vec(item(), 20..23).prop_map(Value::Array),
                1 => value(),
            ]
            .boxed(),
        ),
        ("metadata", metadata()),
    ])
}

/// JSON text of `v`, sometimes broken: cut short, a byte changed, or garbage after it.
fn bytes_of(v: BoxedStrategy<Value>) -> impl Strategy<Value = Vec<u8>> {
    (v, 0..16u8, any::<prop::sample::Index>(), any::<u8>()).prop_map(|(v, how, at, b)| {
        let mut text = serde_json::to_vec(&v).unwrap();
        let i = at.index(text.len() + 1);
        match how {
            0 => text.truncate(i),
            1 if i < text.len() => text[i] = b,
            2 => text.extend_from_slice(b" }x"),
            3 => text.insert(0, b' '),
            _ => {}
        }
        text
    })
}

// ---------------------------------------------------------------------- request parsers

proptest! {
    #![proptest_config(Config { cases: 600, ..Config::default() })]

    #[test]
    fn create_response_never_panics_and_refuses_with_4xx(body in prop_oneof![
        6 => bytes_of(create_response_body()).boxed(),
        1 => prop::collection::vec(any::<u8>(), 0..64).boxed(),
    ]) {
        checks::create_response(&body);
    }

    #[test]
    fn chat_request_never_panics_and_refuses_with_4xx_naming_the_param(body in prop_oneof![
        6 => bytes_of(chat_body()).boxed(),
        1 => prop::collection::vec(any::<u8>(), 0..64).boxed(),
    ]) {
        checks::chat_request(&body);
    }

    #[test]
    fn conversations_bodies_never_panic_and_refuse_with_4xx(body in prop_oneof![
        6 => bytes_of(conversations_body()).boxed(),
        1 => prop::collection::vec(any::<u8>(), 0..64).boxed(),
    ]) {
        checks::conversations(&body);
    }

    #[test]
    fn list_queries_are_in_range_or_refused(query in prop_oneof![
        4 => prop::collection::vec((
            prop::sample::select(vec!["after", "limit", "order", "include[]", "include",
                "include%5B%5D", "x", "", "limit%00"]),
            prop_oneof![
                (-5i64..205).prop_map(|n| n.to_string()),
                prop::sample::select(vec!["asc", "desc", "ASC", "", "1e2", "+5", "007",
                    "99999999999999999999", "message.output_text.logprobs",
                    "reasoning.encrypted_content", "msg_1", ".", "..", "%2E%2E", "%00", "%0a",
                    "a%2Fb", "%FF", "%", "+", "%F0%9F%99%82"]).prop_map(str::to_string),
                any::<String>(),
            ],
            prop::sample::select(vec!["=", "", "=="]),
        ), 0..5).prop_map(|pairs| pairs.into_iter()
            .map(|(k, v, eq)| format!("{k}{eq}{v}"))
            .collect::<Vec<_>>()
            .join("&")),
        1 => any::<String>(),
    ]) {
        checks::list_query(&query);
    }

    #[test]
    fn plausible_ids_encode_to_one_segment_and_back(raw in prop_oneof![
        2 => any::<String>(),
        2 => prop::collection::vec(prop::sample::select(vec![
            'a', 'Z', '0', '-', '.', '_', '~', '/', '\\', '%', '?', '#', ' ', '+', '&', '=',
            ':', '@', 'é', '🙂', '\u{0}', '\n', '\u{7f}', '\u{85}', '\u{2028}', '\u{feff}',
        ]), 0..12).prop_map(|v| v.into_iter().collect::<String>()),
        1 => (250usize..260).prop_map(|n| "é".repeat(n / 2)),
        1 => prop::sample::select(vec![".", "..", "...", "", "a..b"]).prop_map(str::to_string),
    ]) {
        checks::path_id(&raw);
    }
}

// --------------------------------------------------------------------------- SSE decoder

fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        5 => prop::collection::vec(prop::sample::select(vec![
            &b"data:"[..], b"data: ", b"data", b"event:", b"event: x", b"event: ", b":",
            b": comment", b" ", b"\r", b"\n", b"\r\n", b"\n\n", b"x", b"{\"a\":1}", b"id: 1",
            b"retry: 5", b"\xff", b"\xc3\xa9", b"\0",
        ]), 0..40).prop_map(|parts| parts.concat()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

proptest! {
    #![proptest_config(Config { cases: 600, ..Config::default() })]

    #[test]
    fn sse_decoder_is_independent_of_chunking(
        stream in sse_bytes(),
        lengths in prop::collection::vec(0usize..40, 1..6),
    ) {
        checks::sse_decoder(&stream, &lengths);
    }
}

// ------------------------------------------------------------------- stream translation

use bytes::Bytes;
use mastra_gateway::mastra::sse::SseEvent;

const CHUNK_TYPES: &[&str] = &[
    "start",
    "step-start",
    "text-start",
    "text-delta",
    "text-end",
    "reasoning-start",
    "reasoning-delta",
    "reasoning-end",
    "tool-call-input-streaming-start",
    "tool-call-delta",
    "tool-call-input-streaming-end",
    "tool-call",
    "tool-result",
    "tool-error",
    "error",
    "step-finish",
    "finish",
    "abort",
    "tripwire",
];

const REASONS: &[&str] = &[
    "stop",
    "tool-calls",
    "length",
    "content-filter",
    "tripwire",
    "error",
    "other",
    "suspended",
];

/// A delta's text: a JSON string as Mastra writes it, now and then any JSON value.
fn delta_text() -> BoxedStrategy<Value> {
    prop_oneof![
        12 => word().prop_map(Value::String),
        1 => value(),
    ]
    .boxed()
}

fn usage() -> BoxedStrategy<Value> {
    let n = || prop_oneof![8 => (0u64..100).prop_map(Value::from), 1 => leaf()].boxed();
    object_with(
        0.8,
        vec![
            ("inputTokens", n()),
            ("outputTokens", n()),
            ("reasoningTokens", n()),
            ("cachedInputTokens", n()),
        ],
    )
}

fn tool_error() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => word().prop_map(|m| json!({"message": m, "name": "Error",
            "stack": "Error: x\n    at f (/srv/app/node_modules/x.js:1:1)"})),
        1 => word().prop_map(|m| json!({"details": {"errorMessage": m}})),
        1 => word().prop_map(Value::String),
        1 => value(),
    ]
    .boxed()
}

/// A native chunk's payload: each field any chunk type reads, present or not.
fn native_payload() -> BoxedStrategy<Value> {
    object(vec![
        ("id", s(&["txt-0", "txt-1", "r-0"])),
        (
            "messageId",
            s(&["631cdace-381c-4fd5-8999-db6deee0fe4c", "msg_1", "", "a\nb"]),
        ),
        ("text", delta_text()),
        ("toolCallId", s(&["call_1", "call_2"])),
        ("toolName", s(&[checks::CLIENT_TOOL, "get_weather"])),
        ("argsTextDelta", delta_text()),
        (
            "args",
            prop_oneof![3 => Just(json!({"tz": "CET"})), 1 => value()].boxed(),
        ),
        ("result", value().boxed()),
        ("error", tool_error()),
        ("stepResult", object(vec![("reason", s(REASONS))])),
        ("output", object(vec![("usage", usage())])),
        (
            "response",
            object(vec![(
                "uiMessages",
                prop::collection::vec(value(), 0..2)
                    .prop_map(Value::Array)
                    .boxed(),
            )]),
        ),
    ])
}

/// One chunk as Mastra frames it, `type` first, written compactly or pretty-printed (CR/LF
/// whitespace inside the JSON, as a multi-line `data:` event gives it).
fn chunk_bytes(chunk: Value, how: u8) -> Vec<u8> {
    match how {
        0 => serde_json::to_string_pretty(&chunk).unwrap().into_bytes(),
        1 => serde_json::to_string_pretty(&chunk)
            .unwrap()
            .replace('\n', "\r\n")
            .into_bytes(),
        _ => serde_json::to_vec(&chunk).unwrap(),
    }
}

fn data_event(data: Vec<u8>) -> SseEvent {
    SseEvent {
        event: None,
        data: Bytes::from(data),
    }
}

/// One upstream event: most from the native chunk templates, some of any type or payload,
/// some not chunks at all; now and then the gateway's own end (`checks::CUT_EVENT`).
fn upstream_event() -> BoxedStrategy<SseEvent> {
    let typed = (
        prop_oneof![
            10 => prop::sample::select(CHUNK_TYPES.to_vec()).prop_map(str::to_string),
            1 => word(),
        ],
        prop_oneof![8 => native_payload(), 1 => value()],
        0..8u8,
    )
        .prop_map(|(kind, payload, how)| {
            let chunk =
                json!({"type": kind, "runId": "run-1", "from": "AGENT", "payload": payload});
            data_event(chunk_bytes(chunk, how))
        });
    prop_oneof![
        16 => typed.boxed(),
        1 => Just(data_event(b"[DONE]".to_vec())).boxed(),
        1 => value().prop_map(|v| data_event(serde_json::to_vec(&v).unwrap())).boxed(),
        1 => prop::collection::vec(any::<u8>(), 0..20).prop_map(data_event).boxed(),
        1 => word()
            .prop_map(|m| SseEvent {
                event: Some(checks::CUT_EVENT.into()),
                data: Bytes::from(m.into_bytes()),
            })
            .boxed(),
    ]
    .boxed()
}

/// A turn in the order Mastra streams one: `start`; text, reasoning, the caller's tool calls
/// and the agent's (with a result or an error), in any number and order; perhaps an `error`;
/// a `finish` with any reason. The values are sometimes odd (see `native_payload`).
fn plausible_turn() -> BoxedStrategy<Vec<SseEvent>> {
    let chunk = |kind: &str, payload: Value| json!({"type": kind, "payload": payload});
    let segment = (
        0..4u8,
        prop::collection::vec(delta_text(), 0..4),
        1..3u8,
        tool_error(),
    )
        .prop_map(move |(what, deltas, call, error)| {
            let call_id = format!("call_{call}");
            let mut out = Vec::new();
            match what {
                0 | 1 => {
                    let (p, id) = if what == 0 {
                        ("text", "txt-0")
                    } else {
                        ("reasoning", "r-0")
                    };
                    out.push(chunk(&format!("{p}-start"), json!({"id": id})));
                    for d in deltas {
                        out.push(chunk(&format!("{p}-delta"), json!({"id": id, "text": d})));
                    }
                    out.push(chunk(&format!("{p}-end"), json!({"id": id})));
                }
                _ => {
                    let name = if what == 2 {
                        checks::CLIENT_TOOL
                    } else {
                        "get_weather"
                    };
                    out.push(chunk(
                        "tool-call-input-streaming-start",
                        json!({"toolCallId": call_id, "toolName": name}),
                    ));
                    for d in deltas {
                        out.push(chunk(
                            "tool-call-delta",
                            json!({"toolCallId": call_id, "argsTextDelta": d}),
                        ));
                    }
                    out.push(chunk(
                        "tool-call",
                        json!({"toolCallId": call_id, "toolName": name, "args": {"tz": "CET"}}),
                    ));
                    if what == 3 {
                        out.push(if call == 1 {
                            chunk(
                                "tool-result",
                                json!({"toolCallId": call_id, "result": {"t": 1}}),
                            )
                        } else {
                            chunk("tool-error", json!({"toolCallId": call_id, "error": error}))
                        });
                    }
                }
            }
            out
        });
    (
        prop::collection::vec(segment, 0..4),
        prop::option::weighted(0.15, tool_error()),
        prop::option::weighted(0.9, (prop::sample::select(REASONS.to_vec()), usage())),
        0..8u8,
    )
        .prop_map(move |(segments, error, finish, how)| {
            let mut chunks = vec![chunk(
                "start",
                json!({"messageId": "631cdace-381c-4fd5-8999-db6deee0fe4c"}),
            )];
            chunks.extend(segments.into_iter().flatten());
            if let Some(e) = error {
                chunks.push(chunk("error", json!({"error": e})));
            }
            if let Some((reason, usage)) = finish {
                chunks.push(chunk(
                    "finish",
                    json!({"stepResult": {"reason": reason}, "output": {"usage": usage}}),
                ));
            }
            chunks
                .into_iter()
                .map(|c| data_event(chunk_bytes(c, how)))
                .collect()
        })
        .boxed()
}

fn recorded(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The recorded native transcripts and how each ends (Responses' terminal event).
const RECORDED: &[(&str, &str)] = &[
    ("native_stream_text.sse", "response.completed"),
    ("native_stream_tool.sse", "response.completed"),
    ("native_stream_tool_error.sse", "response.completed"),
    ("native_stream_reasoning.sse", "response.completed"),
    ("native_stream_client_call.sse", "response.completed"),
    ("native_stream_length.sse", "response.incomplete"),
    ("native_stream_midstream_error.sse", "response.failed"),
];

/// SSE bytes of `events` (multi-line data as several `data:` lines).
fn sse_of(events: &[SseEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        if let Some(name) = &e.event {
            out.extend_from_slice(format!("event: {name}\n").as_bytes());
        }
        for line in e.data.split(|&c| c == b'\n') {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

proptest! {
    #![proptest_config(Config { cases: 256, ..Config::default() })]

    #[test]
    fn translated_streams_are_well_formed_for_both_apis(
        events in prop::collection::vec(upstream_event(), 0..14),
        include_usage in any::<bool>(),
    ) {
        checks::stream_events(&events, include_usage);
    }

    #[test]
    fn plausible_turns_translate_validly_cut_anywhere(
        events in plausible_turn(),
        cut in prop::option::weighted(0.3, (any::<prop::sample::Index>(), word())),
        include_usage in any::<bool>(),
    ) {
        let mut events = events;
        if let Some((at, message)) = cut {
            let i = at.index(events.len() + 1);
            events.insert(i, SseEvent {
                event: Some(checks::CUT_EVENT.into()),
                data: Bytes::from(message.into_bytes()),
            });
        }
        checks::stream_events(&events, include_usage);
        // The same through SSE framing and the decoder.
        checks::stream_translator(&sse_of(&events));
    }

    /// The recorded Mastra streams cut anywhere, split anywhere, a byte changed: through the
    /// decoder (any split gives the same events) and both translations.
    #[test]
    fn recorded_streams_cut_and_damaged_translate_validly(
        which in 0..RECORDED.len(),
        cut in any::<prop::sample::Index>(),
        damage in prop::option::of((any::<prop::sample::Index>(), any::<u8>())),
        lengths in prop::collection::vec(1usize..300, 1..4),
    ) {
        let mut raw = recorded(RECORDED[which].0);
        raw.truncate(cut.index(raw.len() + 1));
        if let (Some((at, b)), false) = (damage, raw.is_empty()) {
            let i = at.index(raw.len());
            raw[i] = b;
        }
        let whole = checks::decode_in_chunks(&raw, &[raw.len()]);
        prop_assert_eq!(&checks::decode_in_chunks(&raw, &lengths), &whole);
        checks::stream_translator(&raw);
    }
}

#[test]
fn recorded_streams_translate_to_their_ends() {
    for (name, end) in RECORDED {
        let raw = recorded(name);
        let events = checks::decode_in_chunks(&raw, &[raw.len()]);
        let responses = checks::responses_stream(&events);
        assert_eq!(responses.last().unwrap()["type"], *end, "{name}");
        let chat = checks::chat_stream(&events, true);
        let last = chat.last().unwrap();
        if *end == "response.failed" {
            assert!(last["error"].is_object(), "{name}: {last}");
        } else {
            assert_eq!(last, "[DONE]", "{name}");
        }
    }
    // The caller's tool is a function call for both APIs; the agent's own is not the caller's.
    let raw = recorded("native_stream_client_call.sse");
    let events = checks::decode_in_chunks(&raw, &[raw.len()]);
    let kinds: Vec<Value> = checks::responses_stream(&events)
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert!(kinds.contains(&json!("response.function_call_arguments.done")));
    let chat = checks::chat_stream(&events, false);
    assert_eq!(
        chat[chat.len() - 2]["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

/// The checks themselves catch what they are for.
#[test]
fn the_stream_checks_refuse_broken_streams() {
    let created = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"status\":\"in_progress\"},\"sequence_number\":0}\n\n\
                   event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"response\":{\"id\":\"r\",\"status\":\"in_progress\"},\"sequence_number\":1}\n\n";
    let failed = |seq: u64, id: &str| {
        format!("event: response.failed\ndata: {{\"type\":\"response.failed\",\"response\":{{\"id\":\"{id}\",\"status\":\"failed\",\"output\":[]}},\"sequence_number\":{seq}}}\n\n")
    };
    checks::assert_responses_stream(format!("{created}{}", failed(2, "r")).as_bytes());
    for bad in [
        String::new(),
        failed(0, "r"),
        format!("{created}{}", failed(3, "r")),
        format!("{created}{}", failed(2, "other")),
        format!("{created}{}", failed(2, "r").replace("status\":\"failed", "status\":\"completed")),
        format!("{created}{}", failed(2, "r").replace("\"failed\",\"output\":[]", "\"failed\",\"output\":[{}]")),
        format!("{created}{}", failed(2, "r").replacen("response.failed", "response.completed", 1)),
        format!("{created}{}", failed(2, "r").trim_end()),
        format!("{created}{}", failed(2, "r").replacen("\ndata", "\r\ndata", 1)),
        format!("{created}{}{}", failed(2, "r"), failed(3, "r")),
        format!("{created}event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"output_index\":0,\"delta\":1,\"sequence_number\":2}}\n\n{}", failed(3, "r")),
        format!("{created}event: x\ny\ndata: {{\"type\":\"x\",\"sequence_number\":2}}\n\n{}", failed(3, "r")),
    ] {
        let caught = std::panic::catch_unwind(|| checks::assert_responses_stream(bad.as_bytes()));
        assert!(caught.is_err(), "not caught: {bad:?}");
    }

    let chunk = |delta: &str, finish: &str| {
        format!("data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n")
    };
    let ok = format!(
        "{}{}data: [DONE]\n\n",
        chunk("{\"role\":\"assistant\",\"content\":\"hi\"}", "null"),
        chunk("{}", "\"stop\"")
    );
    checks::assert_chat_stream(ok.as_bytes(), false);
    let error = "data: {\"error\":{\"message\":\"x\",\"type\":\"server_error\"}}\n\n";
    checks::assert_chat_stream(error.as_bytes(), false);
    for (bad, include_usage) in [
        (String::new(), false),
        (ok.clone(), true),
        (format!("{ok}data: [DONE]\n\n"), false),
        (format!("{ok}{error}"), false),
        (format!("{error}{ok}"), false),
        (ok.replace("data: [DONE]\n\n", ""), false),
        (ok.replace("\"stop\"", "null"), false),
        (ok.replace("{\"role\":\"assistant\",", "{"), false),
        (ok.replace("chatcmpl-1", "chatcmpl-2"), false),
        (
            ok.replacen("\"content\":\"hi\"", "\"content\":\n\"hi\"", 1),
            false,
        ),
        (ok.replacen("\n\n", "\r\n\r\n", 1), false),
        (format!("event: x\n{ok}"), false),
        (
            ok.replace(
                "\"content\":\"hi\"",
                "\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]",
            ),
            false,
        ),
    ] {
        let caught =
            std::panic::catch_unwind(|| checks::assert_chat_stream(bad.as_bytes(), include_usage));
        assert!(caught.is_err(), "not caught: {bad:?}");
    }
}

/// The old translator's first CR/LF bug (an upstream `type` with a line break became the
/// client's `event:` line): the native translation names its events itself, so a chunk
/// `type` never reaches the client, whatever it holds.
#[test]
fn a_chunk_type_with_a_line_break_never_reaches_the_client() {
    for data in [
        &br#"{"type":"x\ny"}"#[..],
        br#"{"type":"x\r\n\ndata: {}"}"#,
        br#"{"type":"text-delta\n","payload":{"id":"t","text":"a"}}"#,
    ] {
        checks::stream_events(&[data_event(data.to_vec())], true);
    }
}

/// The old translator's second CR/LF bug (upstream JSON copied byte for byte kept its CR/LF
/// whitespace, cutting the client's `data:` line): every piece of a chunk the native
/// translation passes on, written with such whitespace.
#[test]
fn json_whitespace_with_a_line_break_never_reaches_the_client() {
    let cases: &[&[u8]] = &[
        b"{\"type\":\"start\",\"payload\":{\"messageId\":\r\n\"m1\"}}",
        b"{\"type\":\"text-delta\",\"payload\":{\"id\":\"t\",\"text\":\n\"a\"\n}}",
        b"{\"type\":\"reasoning-delta\",\"payload\":{\"id\":\"r\",\"text\":\r\"a\"}}",
        b"{\"type\":\"tool-call-input-streaming-start\",\"payload\":{\"toolCallId\":\"call_1\",\"toolName\":\"get_time\"}}",
        b"{\"type\":\"tool-call-delta\",\"payload\":{\"toolCallId\":\"call_1\",\"argsTextDelta\":\n\"{}\"}}",
        b"{\"type\":\"tool-call\",\"payload\":{\"toolCallId\":\"call_2\",\"toolName\":\"get_weather\",\"args\":{\"a\":\r\n1}}}",
        b"{\"type\":\"tool-result\",\"payload\":{\"toolCallId\":\"call_2\",\"result\":[\n1,\r\n2]}}",
        b"{\"type\":\"tool-error\",\"payload\":{\"toolCallId\":\"call_2\",\"error\":{\"message\":\"a\\nb\"}}}",
        b"{\"type\":\"error\",\"payload\":{\"error\":{\"message\":\"x\\r\\ny\"}}}",
        b"{\"type\":\"finish\",\"payload\":{\"stepResult\":{\"reason\":\n\"stop\"},\"output\":{\"usage\":{\r\n}}}}",
    ];
    let events: Vec<SseEvent> = cases.iter().map(|c| data_event(c.to_vec())).collect();
    checks::stream_events(&events, true);
    for e in &events {
        checks::stream_events(std::slice::from_ref(e), false);
    }
}

/// Found by `plausible_turns_translate_validly_cut_anywhere` and the `stream_translator`
/// target: a text, reasoning or argument delta that is not a JSON string was copied into the
/// client's delta as it came, whitespace included: `"delta":[]` for a client that reads a
/// string, and with CR/LF whitespace (`[\r\n]`) a `data:` line cut in two, the old
/// translator's second bug again. Now such a chunk is malformed: the turn fails
/// (`upstream_error`), as for any chunk that does not decode.
#[test]
fn a_delta_that_is_not_a_string_fails_the_turn() {
    let start = &br#"{"type":"start","payload":{"messageId":"m1"}}"#[..];
    let call = &br#"{"type":"tool-call-input-streaming-start","payload":{"toolCallId":"c1","toolName":"get_time"}}"#[..];
    let cases: &[&[&[u8]]] = &[
        &[start, b"{\"type\":\"text-delta\",\"payload\":{\"id\":\"t\",\"text\":[\r\n]}}"],
        &[start, b"{\"type\":\"text-delta\",\"payload\":{\"id\":\"t\",\"text\":1}}"],
        &[start, b"{\"type\":\"reasoning-delta\",\"payload\":{\"id\":\"r\",\"text\":{\n}}}"],
        &[start, call, b"{\"type\":\"tool-call-delta\",\"payload\":{\"toolCallId\":\"c1\",\"argsTextDelta\":[\n\"{}\"]}}"],
    ];
    for chunks in cases {
        let events: Vec<SseEvent> = chunks.iter().map(|c| data_event(c.to_vec())).collect();
        let responses = checks::responses_stream(&events);
        assert_eq!(responses.last().unwrap()["type"], "response.failed");
        let chat = checks::chat_stream(&events, false);
        assert!(chat.last().unwrap()["error"].is_object(), "{chat:?}");
    }
}
