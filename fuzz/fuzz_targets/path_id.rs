//! Ids in upstream paths: `PathId`, `is_plausible_id`, `quoted`, `api::decode_segment`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mastra_gateway_fuzz::checks::path_id(&String::from_utf8_lossy(data))
});
