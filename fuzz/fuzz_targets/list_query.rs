//! List query strings: `parse_list_query` and `parse_include_query`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mastra_gateway_fuzz::checks::list_query(&String::from_utf8_lossy(data))
});
