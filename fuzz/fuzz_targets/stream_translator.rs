//! A Mastra SSE stream through `SseDecoder` and the stream translator: the client's stream is
//! valid SSE, JSON data with `type`, dense `sequence_number`s, one terminal event, the last.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mastra_gateway_fuzz::checks::stream_translator(data));
