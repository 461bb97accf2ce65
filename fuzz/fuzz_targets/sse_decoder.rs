//! `SseDecoder`: the first 4 bytes are chunk lengths (cycled), the rest is the stream. The same
//! events whole, in those chunks and byte by byte, and those the rules give.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (head, stream) = data.split_at(data.len().min(4));
    let lengths: Vec<usize> = head.iter().map(|&b| usize::from(b)).collect();
    mastra_gateway_fuzz::checks::sse_decoder(stream, &lengths);
});
