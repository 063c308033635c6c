//! Fault-injection directives (`mock:name=value`) found in the user's text.
//! A directive ending in `@openai`, `@anthropic` or `@gemini` applies to that
//! provider's endpoint only; `mock:flaky=N` limits the faults to the first N
//! requests carrying the same text.

use std::time::Duration;

use crate::MockState;

/// What the mock should do for one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// Answer with this error status.
    pub status: Option<u16>,
    /// Wait before answering.
    pub delay: Option<Duration>,
    /// Wait between stream chunks.
    pub chunk_delay: Option<Duration>,
    /// Close the connection without answering.
    pub drop: bool,
    /// Reset the connection after this many content chunks.
    pub cut_after: Option<usize>,
    /// Send an in-band error event after the first content chunk.
    pub mid_error: bool,
    /// Wait for `release()` after the first content chunk.
    pub hold: bool,
    /// Answer 200 with a body that is not the wire format.
    pub garbage: bool,
    /// Call the first tool of the request.
    pub tool: bool,
    /// Answer with this many words.
    pub words: Option<usize>,
    /// Answer with a JSON summary of the request as the provider saw it.
    pub inspect: bool,
    /// Apply the faults only to the first N requests with this text.
    pub flaky: Option<u64>,
    /// A content filter acts: `prompt` (the request is refused with the
    /// provider's content-filter error) or `output` (the answer stops with a
    /// content-filter finish reason).
    pub filter: Option<String>,
}

impl Directives {
    /// The directives for one request to `provider`'s endpoint, with
    /// `flaky` resolved against the requests already seen.
    pub fn for_request(state: &MockState, provider: &str, text: &str) -> Self {
        let mut d = Self::parse(text, provider);
        if let Some(n) = d.flaky
            && state.seen(&format!("{provider}\u{0}{text}")) >= n
        {
            let keep = Self {
                tool: d.tool,
                words: d.words,
                inspect: d.inspect,
                ..Self::default()
            };
            d = keep;
        }
        d
    }

    /// Reads every `mock:…` token of `text` that applies to `provider`.
    pub fn parse(text: &str, provider: &str) -> Self {
        let mut d = Self::default();
        for token in text.split_whitespace() {
            let Some(rest) = token.strip_prefix("mock:") else {
                continue;
            };
            let rest = match rest.split_once('@') {
                Some((directive, target)) if target == provider => directive,
                Some(_) => continue,
                None => rest,
            };
            let (name, value) = rest.split_once('=').unwrap_or((rest, ""));
            let number = value.parse::<u64>().ok();
            match name {
                "status" => d.status = number.and_then(|n| u16::try_from(n).ok()),
                "delay_ms" => d.delay = number.map(Duration::from_millis),
                "chunk_delay_ms" => d.chunk_delay = number.map(Duration::from_millis),
                "drop" => d.drop = true,
                "cut_after" => d.cut_after = number.and_then(|n| usize::try_from(n).ok()),
                "mid_error" => d.mid_error = true,
                "hold" => d.hold = true,
                "garbage" => d.garbage = true,
                "tool" => d.tool = true,
                "words" => d.words = number.and_then(|n| usize::try_from(n).ok()),
                "inspect" => d.inspect = true,
                "flaky" => d.flaky = number,
                "filter" => d.filter = Some(value.to_owned()),
                _ => {}
            }
        }
        d
    }

    /// Applies the faults every endpoint shares: waits `mock:delay_ms`,
    /// then drops the connection (`mock:drop`) or names the error status to
    /// answer with (`mock:status`).
    pub async fn before_answer(&self) -> Result<Option<u16>, crate::DropConnection> {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        if self.drop {
            return Err(crate::DropConnection);
        }
        Ok(self.status)
    }

    /// The user's text without directives.
    pub fn strip(text: &str) -> String {
        text.split_whitespace()
            .filter(|t| !t.starts_with("mock:"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_directives() {
        let d = Directives::parse(
            "hello mock:status=503 mock:delay_ms=20 mock:hold there",
            "openai",
        );
        assert_eq!(d.status, Some(503));
        assert_eq!(d.delay, Some(Duration::from_millis(20)));
        assert!(d.hold && !d.drop);
        assert_eq!(Directives::strip("hello mock:hold there"), "hello there");
        let scoped = "mock:status=500@openai mock:drop@gemini";
        assert_eq!(Directives::parse(scoped, "openai").status, Some(500));
        assert!(!Directives::parse(scoped, "openai").drop);
        assert!(Directives::parse(scoped, "gemini").drop);
        assert_eq!(
            Directives::parse(scoped, "anthropic"),
            Directives::default()
        );
    }

    #[test]
    fn flaky_faults_stop_after_n_requests() {
        let state = MockState::default();
        let text = "hi mock:flaky=2 mock:status=500";
        for _ in 0..2 {
            assert_eq!(
                Directives::for_request(&state, "openai", text).status,
                Some(500)
            );
        }
        assert_eq!(Directives::for_request(&state, "openai", text).status, None);
        assert_eq!(
            Directives::for_request(&state, "gemini", text).status,
            Some(500),
            "counted per provider"
        );
    }
}
