//! Id mapping. A response's id is that of the Mastra message holding its answer:
//! - Mastra's native routes give messages uuids (`8927c9be-…`): `resp_` + the 32 hex digits;
//! - Mastra's own `/api/v1/responses` stored `msg_<uuid>`: `resp_<uuid>` (responses stored before
//!   the gateway ran turns on the native routes keep their ids);
//! - any other message id `X`: `resp_~X`.
//!
//! All three are reversible without a lookup. Tool items: a call the caller runs is the
//! `function_call` item `fc_…` (`call_id` the provider's call id); a tool the agent ran inside
//! Mastra is the `mcp_call` item `mcp_<message>_<call id>`, which names the message it is in.

use std::borrow::Cow;

const MASTRA_RESPONSE_PREFIX: &str = "msg_";
const OPENAI_RESPONSE_PREFIX: &str = "resp_";

/// `8-4-4-4-12` hex digits (either case).
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The uuid's 32 hex digits, lowercase; `None` for anything else.
fn uuid_hex(s: &str) -> Option<String> {
    is_uuid(s).then(|| {
        s.bytes()
            .filter(|c| *c != b'-')
            .map(|c| c.to_ascii_lowercase() as char)
            .collect()
    })
}

/// A message id as it appears inside other ids: a uuid's 32 hex digits, else the id itself.
pub fn message_token(message_id: &str) -> Cow<'_, str> {
    uuid_hex(message_id).map_or(Cow::Borrowed(message_id), Cow::Owned)
}

/// The OpenAI id of the response whose answer is the Mastra message `message_id`.
pub fn response_id_to_openai(message_id: &str) -> String {
    if let Some(hex) = uuid_hex(message_id) {
        return format!("{OPENAI_RESPONSE_PREFIX}{hex}");
    }
    match message_id.strip_prefix(MASTRA_RESPONSE_PREFIX) {
        Some(rest) => format!("{OPENAI_RESPONSE_PREFIX}{rest}"),
        None => format!("{OPENAI_RESPONSE_PREFIX}~{message_id}"),
    }
}

/// The Mastra message id behind an OpenAI response id (see [`response_id_to_openai`]); an id
/// without the `resp_` prefix (a raw Mastra id) is passed as it is.
pub fn response_id_to_mastra(openai_id: &str) -> Cow<'_, str> {
    let Some(rest) = openai_id.strip_prefix(OPENAI_RESPONSE_PREFIX) else {
        return Cow::Borrowed(openai_id);
    };
    if let Some(raw) = rest.strip_prefix('~') {
        return Cow::Borrowed(raw);
    }
    let b = rest.as_bytes();
    if b.len() == 32
        && b.iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    {
        return Cow::Owned(format!(
            "{}-{}-{}-{}-{}",
            &rest[..8],
            &rest[8..12],
            &rest[12..16],
            &rest[16..20],
            &rest[20..]
        ));
    }
    Cow::Owned(format!("{MASTRA_RESPONSE_PREFIX}{rest}"))
}

/// Item id of the `mcp_call` item for call `call_id`, which the agent ran in message
/// `message_id`.
pub fn mcp_call_item_id(message_id: &str, call_id: &str) -> String {
    format!("mcp_{}_{call_id}", message_token(message_id))
}

/// The message a `mcp_call` item id names (when the message id is a uuid) and its call id.
pub fn parse_mcp_call_item_id(item_id: &str) -> Option<(String, &str)> {
    let rest = item_id.strip_prefix("mcp_")?;
    let (hex, call) = (rest.get(..32)?, rest.get(33..)?);
    (rest.as_bytes().get(32) == Some(&b'_') && !call.is_empty())
        .then(|| response_id_to_mastra(&format!("{OPENAI_RESPONSE_PREFIX}{hex}")).into_owned())
        .filter(|m| is_uuid(m))
        .map(|m| (m, call))
}

/// Item id of the `n`th reasoning item (from 0) of the answer in message `message_id`.
pub fn reasoning_item_id(message_id: &str, n: usize) -> String {
    format!("rs_{}_{n}", message_token(message_id))
}

/// Item id of the `n`th message item (from 0) of message `message_id`, as the response and the
/// conversation items show it: `msg_` + the 32 hex digits of a uuid message id (Mastra's
/// native ids), any other id as it is (the gateway's own are `msg_…` already); then `<id>_<n>`
/// for the later items of the same message.
pub fn message_item_id(message_id: &str, n: usize) -> String {
    let base = match uuid_hex(message_id) {
        Some(hex) => format!("msg_{hex}"),
        None => message_id.to_string(),
    };
    if n == 0 {
        base
    } else {
        format!("{base}_{n}")
    }
}

/// The OpenAI id of the response whose output showed item `item_id` (`msg_<hex>[_n]`,
/// `mcp_<hex>_<call>`, `rs_<hex>_<n>`: the items of answers stored under uuid message ids);
/// `None` for ids that do not name their response.
pub fn response_of_item(item_id: &str) -> Option<String> {
    let (prefix, rest) = item_id.split_once('_')?;
    if !matches!(prefix, "msg" | "mcp" | "rs") {
        return None;
    }
    let hex = rest.get(..32)?;
    let tail = &rest[32..];
    let valid = hex
        .bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        && (tail.is_empty() && prefix == "msg" || tail.starts_with('_'));
    valid.then(|| format!("{OPENAI_RESPONSE_PREFIX}{hex}"))
}

fn call_suffix(call_id: &str) -> &str {
    call_id.strip_prefix("call_").unwrap_or(call_id)
}

/// Item id of a `function_call` item: `call_X` → `fc_X`.
pub fn function_call_item_id(call_id: &str) -> String {
    format!("fc_{}", call_suffix(call_id))
}

/// Item id of a `function_call_output` item: `call_X` → `fco_X`.
pub fn function_call_output_item_id(call_id: &str) -> String {
    format!("fco_{}", call_suffix(call_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_ids_round_trip() {
        // Native message ids (uuids): 32 hex digits.
        let m = "8927C9BE-a0c2-443b-9988-a6adc6afac5c";
        let o = response_id_to_openai(m);
        assert_eq!(o, "resp_8927c9bea0c2443b9988a6adc6afac5c");
        assert_eq!(response_id_to_mastra(&o), m.to_ascii_lowercase());
        // Mastra's own stored responses (msg_<uuid>), as before.
        let legacy = "msg_e69b8ba3-a0c2-443b-9988-a6adc6afac5c";
        let o = response_id_to_openai(legacy);
        assert_eq!(o, "resp_e69b8ba3-a0c2-443b-9988-a6adc6afac5c");
        assert_eq!(response_id_to_mastra(&o), legacy);
        // Anything else.
        let other = "asst-cont_1";
        let o = response_id_to_openai(other);
        assert_eq!(o, "resp_~asst-cont_1");
        assert_eq!(response_id_to_mastra(&o), other);
        assert_eq!(response_id_to_mastra(legacy), legacy);
    }

    #[test]
    fn mcp_and_reasoning_ids_name_their_message() {
        let m = "8927c9be-a0c2-443b-9988-a6adc6afac5c";
        let id = mcp_call_item_id(m, "call_mx_1");
        assert_eq!(id, "mcp_8927c9bea0c2443b9988a6adc6afac5c_call_mx_1");
        assert_eq!(
            parse_mcp_call_item_id(&id),
            Some((m.to_string(), "call_mx_1"))
        );
        assert_eq!(parse_mcp_call_item_id("mcp_x_call"), None);
        assert_eq!(
            reasoning_item_id(m, 0),
            "rs_8927c9bea0c2443b9988a6adc6afac5c_0"
        );
        assert_eq!(
            message_item_id(m, 0),
            "msg_8927c9bea0c2443b9988a6adc6afac5c"
        );
        assert_eq!(
            message_item_id(m, 2),
            "msg_8927c9bea0c2443b9988a6adc6afac5c_2"
        );
        assert_eq!(message_item_id("msg_abc", 0), "msg_abc");
    }

    #[test]
    fn tool_item_ids() {
        assert_eq!(function_call_item_id("call_mwzl8ehk_1"), "fc_mwzl8ehk_1");
        assert_eq!(
            function_call_output_item_id("call_mwzl8ehk_1"),
            "fco_mwzl8ehk_1"
        );
        assert_eq!(function_call_item_id("toolu_01"), "fc_toolu_01");
    }
}
