//! Calls the candidates in order: retries with backoff on the same provider,
//! then the next candidate; skips open circuits; never beyond the request's
//! deadline. A stream is only handed to the client once it has produced real
//! content, so everything before that can still fail over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::Route;
use super::dispatch::Dispatcher;
use super::retry::{Next, backoff, is_health_failure, next_step};
use crate::account::Account;
use crate::error::GatewayError;
use crate::limits::{self, Reservation};
use crate::openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest};
use crate::providers::{ChunkStream, Provider};
use crate::traces;

/// One try at one candidate.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The candidate tried.
    pub route: Route,
    /// What came of it.
    pub outcome: Outcome,
}

/// What came of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider answered.
    Answered,
    /// The provider was called and failed: the client's status and why.
    Failed { status: u16, reason: String },
    /// The candidate was not called (open circuit, rate limit): why.
    Skipped { reason: String },
}

impl Attempt {
    /// Whether the provider was called.
    pub fn called(&self) -> bool {
        !matches!(self.outcome, Outcome::Skipped { .. })
    }

    /// Why it did not answer, if it did not.
    pub fn reason(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Answered => None,
            Outcome::Failed { reason, .. } | Outcome::Skipped { reason } => Some(reason),
        }
    }
}

/// What an upstream call produced.
pub enum Output {
    /// A complete answer.
    Json(Box<ChatCompletion>),
    /// A stream whose first content chunk is already in hand.
    Stream(ChunkStream),
}

/// A run that a provider answered.
pub struct Answered {
    /// The answer.
    pub output: Output,
    /// The candidate that produced it.
    pub route: Route,
    /// Every attempt, the successful one last.
    pub attempts: Vec<Attempt>,
    /// The provider rate-limit reservation of the successful call.
    pub reservation: Option<Reservation>,
    /// Time spent waiting on providers (calls and backoff), not working.
    pub waited: Duration,
}

/// A failed run.
pub struct Failed {
    /// The error for the client.
    pub error: GatewayError,
    /// Every attempt.
    pub attempts: Vec<Attempt>,
    /// Time spent waiting on providers (calls and backoff), not working.
    pub waited: Duration,
}

/// Runs the request against `candidates` until one answers. The provider
/// rate-limit reservation of a failed call goes back through `account` at
/// once; the answering call's is returned, for the account to settle.
pub async fn run(
    dispatch: &Dispatcher<'_>,
    account: &Account,
    request: &mut ChatCompletionRequest,
    candidates: &[Route],
    deadline: Instant,
) -> Result<Answered, Failed> {
    let stream = request.is_stream();
    // Serialising the request for the estimate only happens when a limit
    // counts tokens, once per request.
    let mut estimate: Option<u64> = None;
    let mut waited = Duration::ZERO;
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut errors: Vec<GatewayError> = Vec::new();
    'candidates: for route in candidates {
        let Some((provider, settings)) = dispatch.candidate(route) else {
            continue;
        };
        route.model.clone_into(&mut request.model);
        // Untracked routes (past the bound) are called without health state.
        let tracked = dispatch.track(route);
        for retry in 0..=settings.max_retries {
            if tracked && dispatch.circuit_open(route) {
                traces::event("candidate skipped", route, "circuit open");
                attempts.push(Attempt {
                    route: route.clone(),
                    outcome: Outcome::Skipped {
                        reason: "circuit open".into(),
                    },
                });
                continue 'candidates;
            }
            let reservation = match dispatch
                .reserve(route, || {
                    *estimate.get_or_insert_with(|| limits::estimate(request))
                })
                .await
            {
                Ok(reservation) => reservation,
                Err(denied) => {
                    let error =
                        GatewayError::rate_limited(route.provider.as_str().to_owned(), &denied);
                    traces::event("candidate skipped", route, "rate limited");
                    attempts.push(Attempt {
                        route: route.clone(),
                        outcome: Outcome::Skipped {
                            reason: error.client_message(),
                        },
                    });
                    errors.push(error);
                    continue 'candidates;
                }
            };
            let started = Instant::now();
            let Some(remaining) = deadline
                .checked_duration_since(started)
                .filter(|d| !d.is_zero())
            else {
                break 'candidates;
            };
            // Cut by the request's own deadline rather than the provider's
            // time limits: that says nothing about the provider's health, so
            // one client's long requests cannot open a breaker for all.
            let (result, cut_by_deadline) = match tokio::time::timeout(
                remaining,
                attempt(provider, request, stream, settings.timeouts.first_byte),
            )
            .await
            {
                Ok(result) => (result, false),
                Err(_) => (
                    Err(GatewayError::UpstreamTimeout {
                        provider: route.provider,
                    }),
                    true,
                ),
            };
            waited += started.elapsed();
            match result {
                Ok((output, ttft)) => {
                    let elapsed = started.elapsed();
                    if tracked {
                        dispatch.succeeded(route, elapsed, ttft);
                    }
                    attempts.push(Attempt {
                        route: route.clone(),
                        outcome: Outcome::Answered,
                    });
                    return Ok(Answered {
                        output,
                        route: route.clone(),
                        attempts,
                        reservation,
                        waited,
                    });
                }
                Err(error) => {
                    if let Some(reservation) = reservation {
                        account.refund(reservation);
                    }
                    if tracked && !cut_by_deadline {
                        dispatch.failed(route, is_health_failure(&error));
                    }
                    tracing::info!(route = %route, retry, error = %error, "attempt failed");
                    attempts.push(Attempt {
                        route: route.clone(),
                        outcome: Outcome::Failed {
                            status: error.status().as_u16(),
                            reason: error.client_message(),
                        },
                    });
                    let step = next_step(&error);
                    let retry_after = match &error {
                        GatewayError::Upstream { retry_after, .. } => *retry_after,
                        _ => None,
                    };
                    errors.push(error);
                    match step {
                        Next::Stop => break 'candidates,
                        Next::Failover => continue 'candidates,
                        Next::Retry if retry < settings.max_retries => {
                            let wait = backoff(dispatch.retry, retry, retry_after);
                            if Instant::now() + wait >= deadline {
                                continue 'candidates;
                            }
                            tokio::time::sleep(wait).await;
                            waited += wait;
                        }
                        Next::Retry => continue 'candidates,
                    }
                }
            }
        }
    }
    Err(Failed {
        error: final_error(errors, &attempts, deadline),
        attempts,
        waited,
    })
}

/// The client's error once every candidate failed: a client error or the
/// single candidate's own error as is; the last 429 when only rate limits
/// were met; else 503 listing each attempted route and why.
fn final_error(
    mut errors: Vec<GatewayError>,
    attempts: &[Attempt],
    deadline: Instant,
) -> GatewayError {
    let routes_tried: std::collections::BTreeSet<&Route> =
        attempts.iter().map(|a| &a.route).collect();
    let skipped = attempts.iter().any(|a| !a.called());
    let last = errors.pop();
    match last {
        Some(e) if next_step(&e) == Next::Stop => return e,
        Some(e) if routes_tried.len() == 1 && !skipped => return e,
        Some(e) if is_rate_limit(&e) && errors.iter().all(is_rate_limit) => {
            // Only rate limits were met: the soonest retry is the answer.
            return errors
                .into_iter()
                .chain([e])
                .min_by_key(|e| e.retry_after().unwrap_or(u64::MAX))
                .unwrap_or(GatewayError::AllFailed {
                    summary: "rate limited".into(),
                });
        }
        _ => {}
    }
    let mut summary: Vec<String> = Vec::new();
    for route in &routes_tried {
        let mine: Vec<&Attempt> = attempts.iter().filter(|a| &a.route == *route).collect();
        let reason = mine.last().and_then(|a| a.reason()).unwrap_or_default();
        let tries = mine.iter().filter(|a| a.called()).count();
        summary.push(if tries > 1 {
            format!("{route}: {reason} ({tries} attempts)")
        } else {
            format!("{route}: {reason}")
        });
    }
    if Instant::now() >= deadline {
        summary.push("request deadline exceeded".into());
    }
    if summary.is_empty() {
        summary.push("no candidate could be tried".into());
    }
    GatewayError::AllFailed {
        summary: summary.join("; "),
    }
}

/// A 429, from a provider or from the gateway's own limits.
fn is_rate_limit(error: &GatewayError) -> bool {
    matches!(
        error,
        GatewayError::Upstream { status: 429, .. } | GatewayError::RateLimited { .. }
    )
}

/// Whether a chunk carries something the client must see (text, a tool
/// call, reasoning, a finish reason): the point of no return for failover.
fn carries_content(chunk: &ChatCompletionChunk) -> bool {
    chunk.choices.iter().any(|c| {
        c.finish_reason.is_some()
            || c.delta.content.as_deref().is_some_and(|t| !t.is_empty())
            || c.delta.tool_calls.is_some()
            || c.delta
                .extra
                .values()
                .any(|v| !(v.is_null() || v.as_str() == Some("")))
    }) || chunk.is_usage_only()
}

/// One call. For streams, waits (within `first_byte`) for the first content
/// chunk, holding back preambles, so a failure before it is an ordinary error.
async fn attempt(
    provider: &Arc<dyn Provider>,
    request: &ChatCompletionRequest,
    stream: bool,
    first_byte: Duration,
) -> Result<(Output, Option<Duration>), GatewayError> {
    if !stream {
        let completion = provider.chat(request).await?;
        return Ok((Output::Json(Box::new(completion)), None));
    }
    let started = Instant::now();
    let timeout = || GatewayError::UpstreamTimeout {
        provider: provider.id(),
    };
    let mut chunks = tokio::time::timeout(first_byte, provider.chat_stream(request))
        .await
        .map_err(|_| timeout())??;
    let mut held = Vec::new();
    loop {
        let remaining = first_byte.saturating_sub(started.elapsed());
        match tokio::time::timeout(remaining, chunks.next()).await {
            Err(_) => return Err(timeout()),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(e),
            Ok(Some(Ok(chunk))) => {
                let content = carries_content(&chunk);
                held.push(chunk);
                if content {
                    break;
                }
            }
        }
    }
    let ttft = started.elapsed();
    let replay = futures_util::stream::iter(held.into_iter().map(Ok));
    Ok((Output::Stream(Box::pin(replay.chain(chunks))), Some(ttft)))
}
