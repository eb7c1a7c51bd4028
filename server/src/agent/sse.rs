//! Server-sent events read from a response body, by the WHATWG rules a provider may rely
//! on: lines end in CRLF, LF or CR (also split across reads); `:` starts a comment; a line
//! without a colon is a field with an empty value; unknown fields are ignored; an event
//! ends at an empty line and is dropped if the body ends first.
//!
//! Only `data` matters to a chat completion, so only it is kept, in one buffer reused for
//! every event: reading an answer allocates nothing per event once the buffers have grown.
//! (`eventsource-stream` copied the rest of its buffer for every line, a fifth of a turn's
//! allocations; `sse-stream` refuses colonless lines and unknown fields.)

use axum::body::Bytes;
use futures::{Stream, StreamExt};

/// Why the events could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SseError<E> {
    #[error("the body broke: {0}")]
    Transport(E),
    #[error("an event is not UTF-8")]
    Utf8,
}

/// The events of a body, read one at a time with [`SseReader::next`].
pub struct SseReader<S> {
    body: S,
    /// Bytes received and not yet taken apart into lines, from `start`.
    buf: Vec<u8>,
    start: usize,
    /// The event being read: its `data` lines, each followed by a line feed.
    data: Vec<u8>,
    /// The last line ended in CR, so a LF opening the next read belongs to it.
    after_cr: bool,
    /// The byte order mark is looked for once, at the very start.
    started: bool,
    /// The previous call returned `data`, to be cleared before the next event.
    returned: bool,
}

impl<S, E> SseReader<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    pub fn new(body: S) -> Self {
        SseReader {
            body,
            buf: Vec::new(),
            start: 0,
            data: Vec::new(),
            after_cr: false,
            started: false,
            returned: false,
        }
    }

    /// The data of the next event (its `data` lines joined by line feeds), or `None` once
    /// the body has ended. Cancel-safe: bytes are kept as soon as they are received.
    pub async fn next(&mut self) -> Option<Result<&str, SseError<E>>> {
        if std::mem::take(&mut self.returned) {
            self.data.clear();
        }
        loop {
            if self.take_event() {
                self.returned = true;
                self.data.pop();
                return Some(std::str::from_utf8(&self.data).map_err(|_| SseError::Utf8));
            }
            match self.body.next().await {
                Some(Ok(bytes)) => {
                    if self.start > 0 {
                        self.buf.drain(..self.start);
                        self.start = 0;
                    }
                    self.buf.extend_from_slice(&bytes);
                }
                Some(Err(e)) => return Some(Err(SseError::Transport(e))),
                None => return None,
            }
        }
    }

    /// Reads the complete lines received; true when one of them ended an event with data.
    fn take_event(&mut self) -> bool {
        if !self.started {
            const BOM: &[u8] = "\u{feff}".as_bytes();
            if self.buf.len() < BOM.len() && BOM.starts_with(&self.buf) {
                return false;
            }
            self.started = true;
            if self.buf.starts_with(BOM) {
                self.start = BOM.len();
            }
        }
        loop {
            if self.after_cr && self.buf.get(self.start) == Some(&b'\n') {
                self.start += 1;
                self.after_cr = false;
            }
            let rest = &self.buf[self.start..];
            let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                // The CR is settled once a byte follows it, or the body ends.
                self.after_cr = self.after_cr && rest.is_empty();
                return false;
            };
            self.after_cr = rest[end] == b'\r';
            let line_start = self.start;
            self.start += end + 1;
            if end == 0 {
                if !self.data.is_empty() {
                    return true;
                }
                continue;
            }
            let line = &self.buf[line_start..line_start + end];
            let (field, value) = match line.iter().position(|&b| b == b':') {
                Some(0) => continue,
                Some(colon) => {
                    let value = &line[colon + 1..];
                    (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
                }
                None => (line, &[][..]),
            };
            if field == b"data" {
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    /// Every event's data, the body sent in these pieces.
    async fn events(pieces: &[&[u8]]) -> Vec<String> {
        let body = futures::stream::iter(pieces.iter().map(|p| Ok::<_, Infallible>(Bytes::copy_from_slice(p))));
        let mut reader = SseReader::new(body);
        let mut out = Vec::new();
        while let Some(event) = reader.next().await {
            out.push(event.unwrap().to_string());
        }
        out
    }

    #[tokio::test]
    async fn events_end_at_an_empty_line_whatever_ends_the_lines() {
        assert_eq!(events(&[b"data: a\n\ndata: b\r\n\r\ndata: c\r\rdata:d\n\n"]).await, ["a", "b", "c", "d"]);
        // A CRLF whose LF opens the next read, then an LF that ends the event.
        assert_eq!(events(&[b"data: a\r", b"\n", b"\ndata: b\n\n"]).await, ["a", "b"]);
    }

    #[tokio::test]
    async fn lines_and_line_ends_split_across_reads_are_joined() {
        let whole = b"data: {\"x\": 1}\r\n\r\ndata: two\r\rdata: three\n\n";
        for size in 1..whole.len() {
            let pieces: Vec<&[u8]> = whole.chunks(size).collect();
            assert_eq!(events(&pieces).await, ["{\"x\": 1}", "two", "three"], "pieces of {size} bytes");
        }
    }

    #[tokio::test]
    async fn comments_other_fields_and_colonless_lines_are_ignored() {
        let body = b": keep-alive\nevent: chunk\nid: 7\nretry: 10\nfoo: bar\ndata\ndata: x\n\n";
        // `data` alone is a data line with an empty value, so the event's data is "\nx".
        assert_eq!(events(&[body]).await, ["\nx"]);
        assert_eq!(events(&[b": only a comment\n\nevent: x\n\n"]).await, Vec::<String>::new());
    }

    #[tokio::test]
    async fn several_data_lines_join_with_line_feeds_and_one_space_is_dropped() {
        assert_eq!(events(&[b"data:  two spaces\ndata:none\n\n"]).await, [" two spaces\nnone"]);
    }

    #[tokio::test]
    async fn a_byte_order_mark_at_the_start_is_skipped_even_when_split() {
        let body = "\u{feff}data: a\n\n".as_bytes();
        assert_eq!(events(&[&body[..1], &body[1..2], &body[2..]]).await, ["a"]);
    }

    #[tokio::test]
    async fn an_event_cut_off_by_the_end_of_the_body_is_dropped() {
        assert_eq!(events(&[b"data: a\n\ndata: b\n"]).await, ["a"]);
        assert_eq!(events(&[b"data: a\n\ndata: b"]).await, ["a"]);
    }

    #[tokio::test]
    async fn data_that_is_not_utf8_is_an_error_and_a_broken_body_is_reported() {
        let body = futures::stream::iter([Ok::<_, Infallible>(Bytes::from_static(b"data: \xff\n\n"))]);
        let mut reader = SseReader::new(body);
        assert!(matches!(reader.next().await, Some(Err(SseError::Utf8))));

        let body = futures::stream::iter([Ok(Bytes::from_static(b"data: a\n\n")), Err("cut")]);
        let mut reader = SseReader::new(body);
        assert_eq!(reader.next().await.unwrap().unwrap(), "a");
        assert!(matches!(reader.next().await, Some(Err(SseError::Transport("cut")))));
    }
}
