//! `POST /v1/responses` bodies: `parse_json`, `validate`, `check_input_size`, `parse_input`,
//! `turn_messages`, `turn_from_request` and Mastra's native body, in the route's order.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mastra_gateway_fuzz::checks::create_response(data));
