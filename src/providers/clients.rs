//! The upstream HTTP clients. hyper's client carries every request to one
//! host over a single HTTP/2 connection and, once the server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` (often 100–256) are in use, queues the
//! rest instead of opening another connection. So the gateway keeps several
//! clients ("lanes"), each with its own connections, and sends a request
//! through the first lane with fewer than `UPSTREAM_STREAMS_PER_CONNECTION`
//! requests to that provider in flight. Lanes past the first are built only
//! when a provider needs them, so a Lambda instance (one request at a time)
//! never opens a second connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How every lane's client is built.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// `UPSTREAM_CONNECT_TIMEOUT_SECONDS`.
    pub connect_timeout: Duration,
    /// `UPSTREAM_HTTP2_PRIOR_KNOWLEDGE`.
    pub h2c: bool,
    /// `UPSTREAM_CONNECTIONS`: lanes, so HTTP/2 connections per provider.
    pub lanes: usize,
    /// `UPSTREAM_STREAMS_PER_CONNECTION`: requests in flight to one
    /// provider on a lane before the next lane is used.
    pub streams_per_connection: usize,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            h2c: false,
            lanes: 16,
            streams_per_connection: 100,
        }
    }
}

impl ClientSettings {
    fn build(&self) -> Result<reqwest::Client, reqwest::Error> {
        let mut http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("llm-gateway/", env!("CARGO_PKG_VERSION")));
        if self.h2c {
            http = http.http2_prior_knowledge();
        }
        http.build()
    }
}

/// The process's upstream clients, one per lane.
pub struct HttpClients {
    settings: ClientSettings,
    first: reqwest::Client,
    /// Lanes past the first, built when first used.
    more: Box<[OnceLock<reqwest::Client>]>,
}

impl HttpClients {
    /// Builds the first lane now (so a bad setting fails at start-up); the
    /// others when first needed.
    pub fn new(settings: ClientSettings) -> Result<Self, reqwest::Error> {
        Ok(Self {
            first: settings.build()?,
            more: (1..settings.lanes.max(1))
                .map(|_| OnceLock::new())
                .collect(),
            settings,
        })
    }

    /// The first lane's client: builds requests, and serves callers that
    /// need no spreading (embeddings).
    pub fn first(&self) -> &reqwest::Client {
        &self.first
    }

    fn lane(&self, i: usize) -> &reqwest::Client {
        let Some(slot) = i.checked_sub(1).and_then(|j| self.more.get(j)) else {
            return &self.first;
        };
        if let Some(client) = slot.get() {
            return client;
        }
        match self.settings.build() {
            Ok(client) => slot.get_or_init(|| client),
            // Same settings as the first lane, which was built: not expected.
            Err(e) => {
                tracing::warn!(error = %e, lane = i, "could not build another upstream client");
                &self.first
            }
        }
    }

    fn lanes(&self) -> usize {
        self.more.len() + 1
    }

    /// Counters of requests in flight for one provider.
    pub fn counters(self: &Arc<Self>) -> Lanes {
        Lanes {
            clients: self.clone(),
            in_flight: (0..self.lanes()).map(|_| AtomicUsize::new(0)).collect(),
        }
    }
}

/// One provider's view of the lanes: its requests in flight on each.
#[derive(Clone)]
pub struct Lanes {
    clients: Arc<HttpClients>,
    in_flight: Arc<[AtomicUsize]>,
}

impl Lanes {
    /// A builder for a request (any lane's client can send it).
    pub fn post(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.clients.first().post(url)
    }

    /// A GET builder (any lane's client can send it).
    pub fn get(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.clients.first().get(url)
    }

    /// The lane for the next request: the first with room, else the least
    /// busy. The request counts as in flight until the guard is dropped.
    pub fn pick(&self) -> (&reqwest::Client, InFlight) {
        let room = self.clients.settings.streams_per_connection;
        let load = |i: usize| self.in_flight[i].load(Ordering::Relaxed);
        let lane = (0..self.in_flight.len())
            .find(|&i| load(i) < room)
            .or_else(|| (0..self.in_flight.len()).min_by_key(|&i| load(i)))
            .unwrap_or(0);
        self.in_flight[lane].fetch_add(1, Ordering::Relaxed);
        let guard = InFlight {
            in_flight: self.in_flight.clone(),
            lane,
        };
        (self.clients.lane(lane), guard)
    }

    /// Requests in flight on each lane.
    #[cfg(test)]
    fn in_flight(&self) -> Vec<usize> {
        self.in_flight
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect()
    }
}

/// A request in flight on a lane; keep it as long as its response body is
/// being read.
#[derive(Debug)]
pub struct InFlight {
    in_flight: Arc<[AtomicUsize]>,
    lane: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.in_flight[self.lane].fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes(count: usize, room: usize) -> Lanes {
        let clients = HttpClients::new(ClientSettings {
            lanes: count,
            streams_per_connection: room,
            ..ClientSettings::default()
        })
        .expect("client builds");
        Arc::new(clients).counters()
    }

    #[test]
    fn fills_the_first_lane_then_spills_and_returns() {
        let l = lanes(3, 2);
        let a = l.pick().1;
        let b = l.pick().1;
        assert_eq!(l.in_flight(), vec![2, 0, 0]);
        let c = l.pick().1;
        assert_eq!(l.in_flight(), vec![2, 1, 0]);
        drop(a);
        // Room again on the first lane: it is preferred.
        let d = l.pick().1;
        assert_eq!(l.in_flight(), vec![2, 1, 0]);
        drop((b, c, d));
        assert_eq!(l.in_flight(), vec![0, 0, 0]);
    }

    #[test]
    fn all_full_goes_to_the_least_busy() {
        let l = lanes(2, 1);
        let guards: Vec<InFlight> = (0..5).map(|_| l.pick().1).collect();
        assert_eq!(l.in_flight(), vec![3, 2]);
        drop(guards);
        assert_eq!(l.in_flight(), vec![0, 0]);
    }

    #[test]
    fn providers_count_apart() {
        let clients = Arc::new(HttpClients::new(ClientSettings::default()).expect("builds"));
        let (openai, gemini) = (clients.counters(), clients.counters());
        let _g = openai.pick().1;
        assert_eq!(openai.in_flight()[0], 1);
        assert_eq!(gemini.in_flight()[0], 0);
    }
}
