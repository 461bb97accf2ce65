//! `POST /v1/chat/completions` bodies: `parse_json`, `chat_request::validate`,
//! `turn_from_chat` and Mastra's native body.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mastra_gateway_fuzz::checks::chat_request(data));
