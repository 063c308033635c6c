//! Circuit breakers per provider and model: open after a failure rate over a
//! sliding window (with a minimum request count) or after consecutive
//! failures; one half-open probe after the cooldown.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use super::Route;
use crate::config::BreakerConfig;

/// May a call go to a route now?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The circuit is closed.
    Allowed,
    /// The circuit is half-open and this call is its probe.
    Probe,
    /// The circuit is open.
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probe_started: Instant },
}

#[derive(Debug)]
struct Breaker {
    state: State,
    outcomes: VecDeque<(Instant, bool)>,
    consecutive_failures: u32,
}

impl Breaker {
    fn new() -> Self {
        Self {
            state: State::Closed,
            outcomes: VecDeque::new(),
            consecutive_failures: 0,
        }
    }
}

/// All breakers of the process.
#[derive(Debug)]
pub struct Breakers {
    config: BreakerConfig,
    inner: Mutex<HashMap<Route, Breaker>>,
}

impl Breakers {
    /// Breakers with the given thresholds.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(HashMap::new()),
        }
    }

    /// Asks to call `route` at `now`.
    pub fn admit(&self, route: &Route, now: Instant) -> Admission {
        let Ok(mut map) = self.inner.lock() else {
            return Admission::Allowed;
        };
        let Some(b) = map.get_mut(route) else {
            return Admission::Allowed;
        };
        match b.state {
            State::Closed => Admission::Allowed,
            State::Open { until } if now >= until => {
                b.state = State::HalfOpen { probe_started: now };
                Admission::Probe
            }
            State::Open { .. } => Admission::Rejected,
            // A probe that never reported (its caller went away) is replaced
            // after another cooldown.
            State::HalfOpen { probe_started }
                if now.duration_since(probe_started) >= self.config.cooldown =>
            {
                b.state = State::HalfOpen { probe_started: now };
                Admission::Probe
            }
            State::HalfOpen { .. } => Admission::Rejected,
        }
    }

    /// Records the outcome of a call to `route`.
    pub fn record(&self, route: &Route, success: bool, now: Instant) {
        let Ok(mut map) = self.inner.lock() else {
            return;
        };
        if success && !map.contains_key(route) {
            return; // a healthy route needs no state
        }
        let b = map.entry(route.clone()).or_insert_with(Breaker::new);
        let window = self.config.window;
        while b
            .outcomes
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > window)
        {
            b.outcomes.pop_front();
        }
        b.outcomes.push_back((now, success));
        b.consecutive_failures = if success {
            0
        } else {
            b.consecutive_failures + 1
        };
        let open = State::Open {
            until: now + self.config.cooldown,
        };
        b.state = match (b.state, success) {
            (State::HalfOpen { .. }, true) => {
                b.outcomes.clear();
                State::Closed
            }
            (State::HalfOpen { .. }, false) => open,
            (State::Closed, false) => {
                let failures = b.outcomes.iter().filter(|(_, ok)| !ok).count();
                let total = b.outcomes.len();
                let rate_tripped = total >= self.config.min_requests as usize
                    && failures as f64 / total as f64 >= self.config.failure_rate;
                if rate_tripped || b.consecutive_failures >= self.config.consecutive_failures {
                    tracing::warn!(route = %route, failures, total, "circuit opened");
                    open
                } else {
                    State::Closed
                }
            }
            (state, _) => state,
        };
    }

    /// `closed`, `open` or `half_open`.
    pub fn state(&self, route: &Route, now: Instant) -> &'static str {
        let Ok(map) = self.inner.lock() else {
            return "unknown";
        };
        match map.get(route).map(|b| b.state) {
            None | Some(State::Closed) => "closed",
            Some(State::Open { until }) if now < until => "open",
            Some(_) => "half_open",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderId;
    use std::time::Duration;

    fn config() -> BreakerConfig {
        BreakerConfig {
            window: Duration::from_secs(60),
            min_requests: 4,
            failure_rate: 0.5,
            consecutive_failures: 3,
            cooldown: Duration::from_secs(10),
        }
    }

    fn route() -> Route {
        Route {
            provider: ProviderId::OPENAI,
            model: "gpt-4o".into(),
        }
    }

    #[test]
    fn consecutive_failures_open_then_half_open_probe_recovers() {
        let b = Breakers::new(config());
        let t0 = Instant::now();
        for _ in 0..2 {
            b.record(&route(), false, t0);
            assert_eq!(b.admit(&route(), t0), Admission::Allowed);
        }
        b.record(&route(), false, t0);
        assert_eq!(b.admit(&route(), t0), Admission::Rejected);
        assert_eq!(b.state(&route(), t0), "open");
        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.admit(&route(), later), Admission::Probe);
        assert_eq!(
            b.admit(&route(), later),
            Admission::Rejected,
            "one probe at a time"
        );
        b.record(&route(), true, later);
        assert_eq!(b.admit(&route(), later), Admission::Allowed);
        assert_eq!(b.state(&route(), later), "closed");
    }

    #[test]
    fn failed_probe_reopens_and_lost_probe_is_replaced() {
        let b = Breakers::new(config());
        let t0 = Instant::now();
        for _ in 0..3 {
            b.record(&route(), false, t0);
        }
        let t1 = t0 + Duration::from_secs(11);
        assert_eq!(b.admit(&route(), t1), Admission::Probe);
        b.record(&route(), false, t1);
        assert_eq!(
            b.admit(&route(), t1 + Duration::from_secs(5)),
            Admission::Rejected
        );
        let t2 = t1 + Duration::from_secs(11);
        assert_eq!(b.admit(&route(), t2), Admission::Probe);
        // The probe's caller vanished: another probe after a cooldown.
        assert_eq!(
            b.admit(&route(), t2 + Duration::from_secs(11)),
            Admission::Probe
        );
    }

    #[test]
    fn failure_rate_needs_the_minimum_count() {
        let b = Breakers::new(config());
        let t0 = Instant::now();
        // fail, ok, fail: 2/3 but under min_requests and never 3 in a row.
        b.record(&route(), false, t0);
        b.record(&route(), true, t0);
        b.record(&route(), false, t0);
        assert_eq!(b.admit(&route(), t0), Admission::Allowed);
        b.record(&route(), true, t0);
        b.record(&route(), false, t0); // 3 of 5 failed, min 4 reached
        assert_eq!(b.admit(&route(), t0), Admission::Rejected);
        // Old outcomes leave the window.
        let b = Breakers::new(config());
        b.record(&route(), false, t0);
        b.record(&route(), false, t0);
        b.record(&route(), true, t0 + Duration::from_secs(30));
        b.record(&route(), false, t0 + Duration::from_secs(120));
        assert_eq!(
            b.admit(&route(), t0 + Duration::from_secs(120)),
            Admission::Allowed
        );
    }
}
