//! A server-sent events decoder for streamed image generation: events are split on blank
//! lines, `event:` and `data:` fields read, comments skipped. One event may not grow past a
//! bound, since a hostile or broken server could otherwise stream an endless line.

/// One event: its `event:` name (empty when absent) and its joined `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

pub struct SseDecoder {
    buffer: Vec<u8>,
    max_event_bytes: usize,
}

/// An event larger than the bound.
#[derive(Debug)]
pub struct TooLarge;

impl SseDecoder {
    pub fn new(max_event_bytes: usize) -> Self {
        SseDecoder {
            buffer: Vec::new(),
            max_event_bytes,
        }
    }

    /// Feeds `chunk`; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, TooLarge> {
        // CRLF and LF line ends both occur; CR alone (allowed by the spec) does not in practice.
        self.buffer
            .extend(chunk.iter().copied().filter(|b| *b != b'\r'));
        let mut events = Vec::new();
        while let Some(end) = find_blank_line(&self.buffer) {
            let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
            if let Some(event) = parse_block(&block[..end]) {
                events.push(event);
            }
        }
        if self.buffer.len() > self.max_event_bytes {
            return Err(TooLarge);
        }
        Ok(events)
    }

    /// The last event when the stream ends without a blank line after it.
    pub fn finish(&mut self) -> Option<SseEvent> {
        let block = std::mem::take(&mut self.buffer);
        parse_block(&block)
    }
}

fn find_blank_line(buffer: &[u8]) -> Option<usize> {
    buffer.windows(2).position(|w| w == b"\n\n")
}

fn parse_block(block: &[u8]) -> Option<SseEvent> {
    let text = String::from_utf8_lossy(block);
    let mut event = String::new();
    let mut data: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = value.to_owned(),
            "data" => data.push(value),
            _ => {}
        }
    }
    (!data.is_empty() || !event.is_empty()).then(|| SseEvent {
        event,
        data: data.join("\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_events_across_chunks_and_line_ends() {
        let mut decoder = SseDecoder::new(1024);
        assert!(
            decoder
                .push(b": keep-alive\n\nevent: a\r\nda")
                .unwrap()
                .is_empty()
        );
        let events = decoder
            .push(b"ta: {\"x\":1}\r\n\r\ndata: one\ndata: two\n\n")
            .unwrap();
        assert_eq!(
            events,
            [
                SseEvent {
                    event: "a".into(),
                    data: "{\"x\":1}".into()
                },
                SseEvent {
                    event: String::new(),
                    data: "one\ntwo".into()
                }
            ]
        );
        decoder.push(b"data: [DONE]").unwrap();
        assert_eq!(decoder.finish().unwrap().data, "[DONE]");
    }

    #[test]
    fn an_endless_event_is_refused() {
        let mut decoder = SseDecoder::new(16);
        assert!(decoder.push(&[b'x'; 17]).is_err());
    }
}
