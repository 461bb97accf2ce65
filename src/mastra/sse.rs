//! Incremental decoder for Mastra's `text/event-stream` bodies (WHATWG SSE field rules).
//!
//! Chunks arrive split anywhere; complete events come out as soon as their blank line is seen.
//! A single `data:` line is handed out as a zero-copy slice of the chunk it arrived in. An event cut off
//! by the end of the stream is dropped, never emitted half-parsed.

use bytes::{Bytes, BytesMut};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: Bytes,
}

#[derive(Debug, Default)]
pub struct SseDecoder {
    /// The chunk being read, zero-copy, while nothing is carried over from the previous one.
    input: Bytes,
    /// An incomplete line carried over, with the chunks appended to it until it completes.
    /// Emptied (and its memory given back) as soon as it is read, so an idle stream holds
    /// neither this nor the transport's read buffer.
    carried: BytesMut,
    event: Option<String>,
    data: Option<Data>,
}

#[derive(Debug)]
enum Data {
    One(Bytes),
    Many(Vec<u8>),
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, chunk: Bytes) {
        if self.input.is_empty() && self.carried.is_empty() {
            self.input = chunk;
        } else {
            self.carry_input();
            self.carried.extend_from_slice(&chunk);
        }
    }

    /// Bytes held for an event whose blank line has not arrived yet.
    pub fn pending_bytes(&self) -> usize {
        self.input.len() + self.carried.len()
    }

    fn carry_input(&mut self) {
        if !self.input.is_empty() {
            self.carried.extend_from_slice(&self.input);
            self.input = Bytes::new();
        }
    }

    /// The next complete line (with its line ending), if one has arrived.
    fn next_line(&mut self) -> Option<(Bytes, usize)> {
        if !self.input.is_empty() {
            if let Some(newline) = memchr::memchr(b'\n', &self.input) {
                return Some((self.input.split_to(newline + 1), newline));
            }
            self.carry_input();
            return None;
        }
        let newline = memchr::memchr(b'\n', &self.carried)?;
        let line = self.carried.split_to(newline + 1).freeze();
        if self.carried.is_empty() {
            self.carried = BytesMut::new();
        }
        Some((line, newline))
    }

    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let (line, newline) = self.next_line()?;
            let mut end = newline;
            if end > 0 && line[end - 1] == b'\r' {
                end -= 1;
            }
            if end == 0 {
                match self.data.take() {
                    Some(data) => {
                        let data = match data {
                            Data::One(b) => b,
                            Data::Many(v) => Bytes::from(v),
                        };
                        return Some(SseEvent {
                            event: self.event.take(),
                            data,
                        });
                    }
                    None => {
                        self.event = None;
                        continue;
                    }
                }
            }
            let content = &line[..end];
            if content[0] == b':' {
                continue;
            }
            let (field, value_start) = match memchr::memchr(b':', content) {
                Some(colon) => {
                    let mut start = colon + 1;
                    if content.get(start) == Some(&b' ') {
                        start += 1;
                    }
                    (&content[..colon], start)
                }
                None => (content, end),
            };
            match field {
                b"data" => {
                    let value = line.slice(value_start..end);
                    self.data = Some(match self.data.take() {
                        None => Data::One(value),
                        Some(Data::One(first)) => {
                            let mut v = first.to_vec();
                            v.push(b'\n');
                            v.extend_from_slice(&value);
                            Data::Many(v)
                        }
                        Some(Data::Many(mut v)) => {
                            v.push(b'\n');
                            v.extend_from_slice(&value);
                            Data::Many(v)
                        }
                    });
                }
                b"event" => {
                    self.event =
                        Some(String::from_utf8_lossy(&line[value_start..end]).into_owned());
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(d: &mut SseDecoder) -> Vec<SseEvent> {
        std::iter::from_fn(|| d.next_event()).collect()
    }

    #[test]
    fn splits_anywhere() {
        let input = b"event: a\ndata: {\"x\":1}\n\n: comment\n\ndata: two\r\ndata: lines\r\n\r\ndata: [DONE]\n\n";
        for cut in 0..input.len() {
            let mut d = SseDecoder::new();
            d.push(Bytes::from_static(&input[..cut]));
            let mut got = all(&mut d);
            d.push(Bytes::from_static(&input[cut..]));
            got.extend(all(&mut d));
            assert_eq!(got.len(), 3, "cut at {cut}");
            assert_eq!(got[0].event.as_deref(), Some("a"));
            assert_eq!(&got[0].data[..], b"{\"x\":1}");
            assert_eq!(&got[1].data[..], b"two\nlines");
            assert_eq!(got[1].event, None);
            assert_eq!(&got[2].data[..], b"[DONE]");
        }
    }

    #[test]
    fn incomplete_event_is_not_emitted() {
        let mut d = SseDecoder::new();
        d.push(Bytes::from_static(b"data: {\"trunc"));
        assert!(d.next_event().is_none());
        d.push(Bytes::from_static(b"ated\"}\n"));
        assert!(d.next_event().is_none());
        assert!(d.pending_bytes() == 0);
    }

    #[test]
    fn splits_anywhere_into_three() {
        let input: &'static [u8] = b"data: {\"a\":1}\n\nevent: b\ndata: x\ndata: y\n\n";
        for i in 0..input.len() {
            for j in i..input.len() {
                let mut d = SseDecoder::new();
                let mut got = Vec::new();
                for piece in [&input[..i], &input[i..j], &input[j..]] {
                    d.push(Bytes::from_static(piece));
                    got.extend(all(&mut d));
                }
                assert_eq!(got.len(), 2, "cuts at {i}, {j}");
                assert_eq!(&got[0].data[..], b"{\"a\":1}");
                assert_eq!(got[1].event.as_deref(), Some("b"));
                assert_eq!(&got[1].data[..], b"x\ny");
                assert_eq!(d.pending_bytes(), 0);
            }
        }
    }

    #[test]
    fn a_whole_event_in_one_chunk_is_not_copied() {
        let chunk = Bytes::from_static(b"data: {\"a\":1}\n\n");
        let mut d = SseDecoder::new();
        d.push(chunk.clone());
        let event = d.next_event().expect("one event");
        assert!(chunk.as_ptr_range().contains(&event.data.as_ptr()));
        assert_eq!(d.pending_bytes(), 0);
    }
}
