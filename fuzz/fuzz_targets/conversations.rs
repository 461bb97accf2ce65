//! The Conversations bodies (create, update, create items) through `parse_json` and the checks
//! their routes make before going upstream.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mastra_gateway_fuzz::checks::conversations(data));
