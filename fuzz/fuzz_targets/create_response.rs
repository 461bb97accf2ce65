//! `POST /v1/responses` bodies: `parse_json`, `validate`, `check_input_size`, `build_create_body`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mastra_gateway_fuzz::checks::create_response(data));
