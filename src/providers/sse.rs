//! Server-sent events: an incremental parser for upstream streams and the
//! encoder for the gateway's own streams.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;

/// Longest event the parser buffers before giving up (a broken upstream must
/// not make the gateway buffer without bound).
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// One dispatched server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Why an upstream byte stream could not be read as SSE.
#[derive(Debug, thiserror::Error)]
pub enum SseError<E> {
    /// The byte stream itself failed (connection reset, timeout, …).
    #[error("stream read failed: {0}")]
    Transport(E),
    /// An event was not UTF-8 or grew past [`MAX_EVENT_BYTES`].
    #[error("malformed event stream: {0}")]
    Malformed(&'static str),
}

/// Splits a byte stream into SSE events as bytes arrive, never waiting for
/// more than the current event.
pub struct SseStream<S> {
    inner: S,
    buf: BytesMut,
    event: Option<String>,
    data: Option<String>,
    done: bool,
}

impl<S> SseStream<S> {
    /// Wraps a byte stream.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            event: None,
            data: None,
            done: false,
        }
    }

    /// Consumes complete lines from the buffer; returns an event once a blank
    /// line dispatches one.
    fn next_event(&mut self) -> Result<Option<SseEvent>, &'static str> {
        loop {
            let Some(pos) = self.buf.iter().position(|&b| b == b'\n' || b == b'\r') else {
                if self.buf.len() > MAX_EVENT_BYTES {
                    return Err("event too large");
                }
                return Ok(None);
            };
            // A lone '\r' at the end of the buffer may be the first half of "\r\n".
            if self.buf[pos] == b'\r' && pos + 1 == self.buf.len() && !self.done {
                return Ok(None);
            }
            let line = self.buf.split_to(pos);
            let crlf = self.buf[0] == b'\r' && self.buf.get(1) == Some(&b'\n');
            self.buf.advance(if crlf { 2 } else { 1 });
            if let Some(event) = self.process_line(&line)? {
                return Ok(Some(event));
            }
        }
    }

    fn process_line(&mut self, line: &[u8]) -> Result<Option<SseEvent>, &'static str> {
        if line.is_empty() {
            return Ok(self.data.take().map(|data| SseEvent {
                event: self.event.take(),
                data,
            }));
        }
        if line[0] == b':' {
            return Ok(None);
        }
        let line = std::str::from_utf8(line).map_err(|_| "event is not UTF-8")?;
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(data) => {
                    if data.len() + value.len() > MAX_EVENT_BYTES {
                        return Err("event too large");
                    }
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            _ => {}
        }
        Ok(None)
    }
}

impl<S, E> Stream for SseStream<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<SseEvent, SseError<E>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match this.next_event() {
                Ok(Some(event)) => return Poll::Ready(Some(Ok(event))),
                Ok(None) => {}
                Err(msg) => {
                    this.done = true;
                    this.buf.clear();
                    return Poll::Ready(Some(Err(SseError::Malformed(msg))));
                }
            }
            if this.done {
                // End of input dispatches a final event only if a blank line ended it;
                // a half-written trailing event is dropped, as the SSE spec says.
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => this.buf.extend_from_slice(&bytes),
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(SseError::Transport(e))));
                }
                Poll::Ready(None) => this.done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Encodes one `data:` event. `json` must not contain raw newlines (serde_json
/// output never does).
pub fn data_event(json: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(json.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    out.freeze()
}

/// The event that ends every OpenAI stream.
pub const DONE_EVENT: &[u8] = b"data: [DONE]\n\n";

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{StreamExt, stream};
    use std::convert::Infallible;

    async fn parse(pieces: &[&[u8]]) -> Vec<Result<SseEvent, String>> {
        let owned: Vec<Result<Bytes, Infallible>> = pieces
            .iter()
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect();
        SseStream::new(stream::iter(owned))
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
            .await
    }

    fn ev(event: Option<&str>, data: &str) -> Result<SseEvent, String> {
        Ok(SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        })
    }

    #[tokio::test]
    async fn events_split_across_reads_and_line_endings() {
        let got = parse(&[
            b"data: {\"a\"",
            b":1}\n\nevent: message_start\r",
            b"\ndata: x\r\n\r\n: comment\n\ndata: l1\ndata: l2\n\ndata: [DONE]\n\n",
        ])
        .await;
        assert_eq!(
            got,
            vec![
                ev(None, "{\"a\":1}"),
                ev(Some("message_start"), "x"),
                ev(None, "l1\nl2"),
                ev(None, "[DONE]"),
            ]
        );
    }

    #[tokio::test]
    async fn unterminated_trailing_event_is_dropped() {
        assert_eq!(parse(&[b"data: a\n\ndata: b"]).await, vec![ev(None, "a")]);
    }

    #[tokio::test]
    async fn invalid_utf8_is_an_error() {
        let got = parse(&[b"data: \xff\xfe\n\n"]).await;
        assert!(matches!(&got[..], [Err(e)] if e.contains("UTF-8")));
    }

    #[tokio::test]
    async fn transport_errors_end_the_stream() {
        let items: Vec<Result<Bytes, &str>> =
            vec![Ok(Bytes::from_static(b"data: a\n\n")), Err("reset")];
        let got: Vec<_> = SseStream::new(stream::iter(items)).collect().await;
        assert_eq!(got.len(), 2);
        assert!(matches!(got[1], Err(SseError::Transport("reset"))));
    }

    #[test]
    fn data_event_encodes() {
        assert_eq!(&data_event(b"{}")[..], b"data: {}\n\n");
    }
}
