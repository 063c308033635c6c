//! Provider statistics per route: latency and time to first token (EMA and
//! percentiles over recent requests) and error rate. Read by smart routing
//! and shown in `/metrics`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use super::Route;

/// Recent samples kept per route for percentiles.
const SAMPLES: usize = 512;
/// Weight of a new sample in the moving averages.
const ALPHA: f64 = 0.2;

#[derive(Debug, Default)]
struct RouteStats {
    requests: u64,
    errors: u64,
    latency_ema: Option<f64>,
    ttft_ema: Option<f64>,
    error_ema: f64,
    latencies: VecDeque<f32>,
    ttfts: VecDeque<f32>,
}

fn ema(current: Option<f64>, sample: f64) -> f64 {
    current.map_or(sample, |c| c + ALPHA * (sample - c))
}

fn push(samples: &mut VecDeque<f32>, value: f64) {
    if samples.len() == SAMPLES {
        samples.pop_front();
    }
    samples.push_back(value as f32);
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub ema: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

/// What `/metrics` shows for one route.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouteSnapshot {
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub latency_ms: Option<Latency>,
    pub ttft_ms: Option<Latency>,
}

fn summary(ema: Option<f64>, samples: &VecDeque<f32>) -> Option<Latency> {
    let ema = ema?;
    let mut sorted: Vec<f32> = samples.iter().copied().collect();
    sorted.sort_by(f32::total_cmp);
    let pct = |p: f64| {
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(i).copied().map_or(0.0, f64::from)
    };
    Some(Latency {
        ema,
        p50: pct(0.50),
        p95: pct(0.95),
        p99: pct(0.99),
    })
}

/// Statistics of every route this process has called.
#[derive(Debug, Default)]
pub struct Stats {
    inner: Mutex<HashMap<Route, RouteStats>>,
}

/// Most routes with statistics, breakers and shared health: model names
/// that a provider's prefix routes (`gpt-…`) are the client's choice, so
/// past this many routes new ones are called but not tracked.
pub const MAX_ROUTES: usize = 1024;

impl Stats {
    /// Whether `route` has (or now gets) a place in the per-route state.
    pub fn track(&self, route: &Route) -> bool {
        let Ok(mut map) = self.inner.lock() else {
            return false;
        };
        if map.contains_key(route) {
            return true;
        }
        if map.len() >= MAX_ROUTES {
            return false;
        }
        map.insert(route.clone(), RouteStats::default());
        true
    }

    /// A successful call that took `latency` (first token after `ttft`, for streams).
    pub fn success(&self, route: &Route, latency: Duration, ttft: Option<Duration>) {
        self.update(route, |s| {
            let ms = latency.as_secs_f64() * 1000.0;
            s.latency_ema = Some(ema(s.latency_ema, ms));
            push(&mut s.latencies, ms);
            if let Some(ttft) = ttft {
                let ms = ttft.as_secs_f64() * 1000.0;
                s.ttft_ema = Some(ema(s.ttft_ema, ms));
                push(&mut s.ttfts, ms);
            }
            s.error_ema = ema(Some(s.error_ema), 0.0);
        });
    }

    /// A failed call.
    pub fn failure(&self, route: &Route) {
        self.update(route, |s| {
            s.errors += 1;
            s.error_ema = ema(Some(s.error_ema), 1.0);
        });
    }

    fn update(&self, route: &Route, f: impl FnOnce(&mut RouteStats)) {
        if let Ok(mut map) = self.inner.lock() {
            if let Some(s) = map.get_mut(route) {
                s.requests += 1;
                f(s);
            } else if map.len() < MAX_ROUTES {
                let s = map.entry(route.clone()).or_default();
                s.requests += 1;
                f(s);
            }
        }
    }

    /// The latency EMA of a route, in milliseconds, once measured. Streams
    /// count by their time to first token.
    pub fn latency_ms(&self, route: &Route) -> Option<f64> {
        let map = self.inner.lock().ok()?;
        let s = map.get(route)?;
        s.ttft_ema.or(s.latency_ema)
    }

    /// Seeds a route's latency (tests and benchmarks).
    pub fn seed_latency(&self, route: &Route, ms: f64) {
        self.update(route, |s| {
            s.latency_ema = Some(ms);
            push(&mut s.latencies, ms);
        });
    }

    /// Everything, keyed by `provider/model`.
    pub fn snapshot(&self) -> Vec<(Route, RouteSnapshot)> {
        let Ok(map) = self.inner.lock() else {
            return Vec::new();
        };
        let mut out: Vec<(Route, RouteSnapshot)> = map
            .iter()
            .map(|(route, s)| {
                (
                    route.clone(),
                    RouteSnapshot {
                        requests: s.requests,
                        errors: s.errors,
                        error_rate: s.error_ema,
                        latency_ms: summary(s.latency_ema, &s.latencies),
                        ttft_ms: summary(s.ttft_ema, &s.ttfts),
                    },
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderId;

    #[test]
    fn records_latency_percentiles_and_errors() {
        let stats = Stats::default();
        let route = Route {
            provider: ProviderId::GEMINI,
            model: "gemini-2.5-flash".into(),
        };
        assert_eq!(stats.latency_ms(&route), None);
        for ms in 1..=100 {
            stats.success(&route, Duration::from_millis(ms), None);
        }
        stats.failure(&route);
        let (_, snap) = &stats.snapshot()[0];
        assert_eq!((snap.requests, snap.errors), (101, 1));
        let latency = snap.latency_ms.clone().expect("measured");
        assert_eq!(
            (
                latency.p50.round(),
                latency.p95.round(),
                latency.p99.round()
            ),
            (51.0, 95.0, 99.0)
        );
        assert!(latency.ema > 80.0 && latency.ema < 100.0, "{}", latency.ema);
        assert!((snap.error_rate - 0.2).abs() < 1e-9);
        stats.success(
            &route,
            Duration::from_millis(500),
            Some(Duration::from_millis(40)),
        );
        assert_eq!(
            stats.latency_ms(&route),
            Some(40.0),
            "streams rank by time to first token"
        );
    }
}
