//! A Mastra native chunk stream (SSE) through `SseDecoder` and `ChunkDecoder` into both sinks,
//! `ResponseWriter` (Responses events) and `ChatWriter` (Chat Completions chunks), streamed and
//! collected: each client stream well-formed and ended once, the collected answers the same.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mastra_gateway_fuzz::checks::stream_translator(data));
