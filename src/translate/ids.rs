//! Id mapping. Mastra's response id is the stored assistant message id `msg_<uuid>`; OpenAI
//! clients expect `resp_…`, so the prefix is swapped both ways (stateless and reversible).
//! Tool items: Mastra uses the provider's call id for the item id; OpenAI shows `fc_…` for the
//! item and keeps `call_…` as `call_id`.

use std::borrow::Cow;

const MASTRA_RESPONSE_PREFIX: &str = "msg_";
const OPENAI_RESPONSE_PREFIX: &str = "resp_";

/// `msg_X` → `resp_X`.
pub fn response_id_to_openai(mastra_id: &str) -> String {
    let rest = mastra_id
        .strip_prefix(MASTRA_RESPONSE_PREFIX)
        .unwrap_or(mastra_id);
    format!("{OPENAI_RESPONSE_PREFIX}{rest}")
}

/// `resp_X` → `msg_X`; any other id (a raw Mastra id) is passed as it is.
pub fn response_id_to_mastra(openai_id: &str) -> Cow<'_, str> {
    match openai_id.strip_prefix(OPENAI_RESPONSE_PREFIX) {
        Some(rest) => Cow::Owned(format!("{MASTRA_RESPONSE_PREFIX}{rest}")),
        None => Cow::Borrowed(openai_id),
    }
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
        let m = "msg_e69b8ba3-a0c2-443b-9988-a6adc6afac5c";
        let o = response_id_to_openai(m);
        assert_eq!(o, "resp_e69b8ba3-a0c2-443b-9988-a6adc6afac5c");
        assert_eq!(response_id_to_mastra(&o), m);
        assert_eq!(response_id_to_mastra(m), m);
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
