//! Property-based fuzzing of everything that parses outside input: chat
//! requests (and their translation to each provider), SSE byte streams
//! split anywhere, each provider's stream events, and provider response
//! bodies. Inputs are seeds from `tests/fuzz/corpus/` mutated at random
//! (byte flips, inserts, deletions, truncation, duplication, JSON and SSE
//! tokens) plus raw random bytes. The property: no panic, and bad input
//! is an error — a 400 for requests. `PROPTEST_CASES=100000 cargo test
//! --test fuzz` fuzzes longer; failures are saved under
//! `tests/fuzz.proptest-regressions` and replayed first.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use llm_gateway::api::chat::parse_request;
use llm_gateway::config::{Secret, Timeouts};
use llm_gateway::error::GatewayError;
use llm_gateway::openai::ChatCompletionChunk;
use llm_gateway::providers::ProviderId;
use llm_gateway::providers::anthropic::request::to_anthropic;
use llm_gateway::providers::anthropic::response::{self as anthropic, AnthropicStream};
use llm_gateway::providers::gemini::request::to_gemini;
use llm_gateway::providers::gemini::response::{self as gemini, GeminiStream};
use llm_gateway::providers::http::Upstream;
use llm_gateway::providers::openai::OpenAiStream;
use llm_gateway::providers::sse::{SseEvent, SseStream};
use llm_gateway::providers::stream::{Flow, StreamTranslator};
use proptest::prelude::*;

/// Tokens that make mutations reach deeper than random bytes do.
const TOKENS: &[&[u8]] = &[
    b"null",
    b"[",
    b"]",
    b"{",
    b"}",
    b"\"",
    b",",
    b":",
    b"-1",
    b"1e999",
    b"18446744073709551616",
    b"\\u0000",
    b"\\ud800",
    b"\xff",
    b"\xc3",
    b"true",
    b"\"\":",
    b"data: ",
    b"event: error\n",
    b"\n\n",
    b"\r\n",
    b"\r",
    b"[DONE]",
    b"{\"type\":\"message_stop\"}",
];

fn seeds(folder: &str, ext: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(folder);
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    assert!(!paths.is_empty(), "no seeds in {}", dir.display());
    // By file name, so tests can pick a seed by its place.
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("seed readable"))
        .collect()
}

/// A seed with up to 8 random mutations, or random bytes.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = seeds.len();
    let edits = (
        0..count,
        prop::collection::vec((0u8..6, any::<u32>(), any::<u8>()), 0..8),
    )
        .prop_map(move |(i, ops)| {
            let mut b = seeds[i].clone();
            for (op, pos, byte) in ops {
                let n = b.len();
                let p = if n == 0 { 0 } else { pos as usize % n };
                match op {
                    0 if n > 0 => b[p] = byte,
                    1 => b.insert(p, byte),
                    2 if n > 0 => {
                        let end = (p + usize::from(byte % 16) + 1).min(n);
                        b.drain(p..end);
                    }
                    3 => b.truncate(p),
                    4 => {
                        let end = (p + usize::from(byte % 64)).min(n);
                        let piece = b[p..end].to_vec();
                        b.splice(p..p, piece);
                    }
                    _ => {
                        let token = TOKENS[usize::from(byte) % TOKENS.len()];
                        b.splice(p..p, token.iter().copied());
                    }
                }
            }
            b
        });
    prop_oneof![9 => edits, 1 => prop::collection::vec(any::<u8>(), 0..512)]
}

fn upstream(id: ProviderId) -> Upstream {
    // Building HTTP clients is slow; the translators never use them.
    static UPSTREAM: std::sync::OnceLock<Upstream> = std::sync::OnceLock::new();
    let mut upstream = UPSTREAM
        .get_or_init(|| {
            let second = Duration::from_secs(1);
            let timeouts = Timeouts {
                first_byte: second,
                total: second,
                idle: second,
            };
            Upstream::standalone(id, timeouts, Secret::new("sk-fuzz-key-0123456789"))
                .expect("client builds")
        })
        .clone();
    upstream.id = id;
    upstream
}

/// Splits `bytes` at the given points and reads them as SSE events.
fn sse_events(bytes: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    for p in points {
        pieces.push(Bytes::copy_from_slice(&bytes[start.min(p)..p]));
        start = start.max(p);
    }
    pieces.push(Bytes::copy_from_slice(&bytes[start..]));
    let mut stream = SseStream::new(futures_util::stream::iter(
        pieces.into_iter().map(Ok::<Bytes, Infallible>),
    ));
    let mut events = Vec::new();
    while let Some(Some(item)) = stream.next().now_or_never() {
        match item {
            Ok(event) => events.push(event),
            Err(_) => break,
        }
    }
    events
}

/// Feeds events to a translator as the stream driver does.
fn translate(mut t: impl StreamTranslator, events: Vec<SseEvent>) -> Vec<ChatCompletionChunk> {
    let mut out: VecDeque<ChatCompletionChunk> = VecDeque::new();
    let mut done = false;
    for event in events {
        match t.on_event(event, &mut out) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Done) => {
                done = true;
                break;
            }
            Err(_) => return out.into(),
        }
    }
    if !done {
        let _ = t.on_end(&mut out);
    }
    out.into()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
    ))]

    #[test]
    fn chat_requests_parse_or_fail_with_400(bytes in mutated(seeds("requests", "json"))) {
        match parse_request(&bytes) {
            Ok(request) => {
                // A valid request translates (or is refused) for every provider.
                let _ = to_anthropic(&request, false);
                let _ = to_anthropic(&request, true);
                let _ = to_gemini(&request);
                let _ = llm_gateway::limits::estimate(&request);
            }
            Err(error) => {
                prop_assert!(matches!(error, GatewayError::InvalidRequest { .. }), "{error:?}");
                prop_assert_eq!(error.status().as_u16(), 400);
            }
        }
    }

    #[test]
    fn anthropic_streams_never_panic(
        bytes in mutated(seeds("anthropic", "sse")),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let events = sse_events(&bytes, &cuts);
        translate(AnthropicStream::new(upstream(ProviderId::ANTHROPIC)), events);
    }

    #[test]
    fn gemini_streams_never_panic(
        bytes in mutated(seeds("gemini", "sse")),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let events = sse_events(&bytes, &cuts);
        translate(GeminiStream::new(upstream(ProviderId::GEMINI), "gemini-2.5-flash"), events);
    }

    #[test]
    fn openai_streams_never_panic(
        bytes in mutated(seeds("openai", "sse")),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let events = sse_events(&bytes, &cuts);
        translate(OpenAiStream::new(upstream(ProviderId::OPENAI)), events);
    }

    #[test]
    fn provider_response_bodies_never_panic(
        a in mutated(seeds("anthropic", "json")),
        g in mutated(seeds("gemini", "json")),
    ) {
        if let Ok(response) = serde_json::from_slice::<anthropic::MessagesResponse>(&a) {
            let _ = anthropic::to_completion(response);
        }
        if let Ok(response) = serde_json::from_slice::<gemini::GenerateContentResponse>(&g) {
            let _ = gemini::to_completion(response, "gemini-2.5-flash");
        }
    }

    #[test]
    fn split_points_do_not_change_sse_events(
        bytes in mutated(seeds("anthropic", "sse")),
        cuts in prop::collection::vec(any::<usize>(), 1..12),
    ) {
        // Where the network splits a stream must not matter.
        prop_assert_eq!(sse_events(&bytes, &cuts), sse_events(&bytes, &[]));
    }
}

#[test]
fn the_seed_streams_translate_to_chunks() {
    // The seeds are real streams: unmutated, they produce content.
    let chunks = translate(
        AnthropicStream::new(upstream(ProviderId::ANTHROPIC)),
        sse_events(&seeds("anthropic", "sse")[1], &[]),
    );
    assert!(chunks.iter().any(|c| {
        c.choices
            .iter()
            .any(|ch| ch.delta.content.as_deref() == Some("Hello"))
    }));
    let chunks = translate(
        GeminiStream::new(upstream(ProviderId::GEMINI), "gemini-2.5-flash"),
        sse_events(&seeds("gemini", "sse")[1], &[]),
    );
    assert!(chunks.iter().any(|c| c.usage.is_some()), "{chunks:?}");
    let chunks = translate(
        OpenAiStream::new(upstream(ProviderId::OPENAI)),
        sse_events(&seeds("openai", "sse")[0], &[]),
    );
    assert_eq!(chunks.len(), 4);
    for request in seeds("requests", "json") {
        assert!(
            parse_request(&request).is_ok(),
            "{}",
            String::from_utf8_lossy(&request)
        );
    }
}
